package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// redisTimeout bounds each command; the Redis here is on loopback and never slow.
const redisTimeout = 5 * time.Second

// maxBulk caps a bulk reply this worker will read (a counter is a few bytes).
const maxBulk = 1 << 20

// errRedisNil is the nil bulk reply of GET on an absent key.
var errRedisNil = errors.New("nil reply")

// redisConn speaks just enough RESP for GET and SET, so the worker needs no Redis library.
type redisConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialRedis(ctx context.Context, addr string) (*redisConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	return &redisConn{conn: conn, r: bufio.NewReader(conn)}, nil
}

func (c *redisConn) Close() error { return c.conn.Close() }

// get returns the value, or nil when the key is absent.
func (c *redisConn) get(key string) ([]byte, error) {
	v, err := c.do("GET", key)
	if errors.Is(err, errRedisNil) {
		return nil, nil
	}
	return v, err
}

func (c *redisConn) set(key, value string) error {
	v, err := c.do("SET", key, value)
	if err != nil {
		return err
	}
	if string(v) != "OK" {
		return fmt.Errorf("SET %s answered %q", key, v)
	}
	return nil
}

func (c *redisConn) do(args ...string) ([]byte, error) {
	if err := c.conn.SetDeadline(time.Now().Add(redisTimeout)); err != nil {
		return nil, err
	}
	req := "*" + strconv.Itoa(len(args)) + "\r\n"
	for _, a := range args {
		req += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	if _, err := io.WriteString(c.conn, req); err != nil {
		return nil, fmt.Errorf("redis %s: %w", args[0], err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", args[0], err)
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("redis %s: short reply %q", args[0], line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return []byte(body), nil
	case '-':
		return nil, fmt.Errorf("redis %s: %s", args[0], body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n > maxBulk {
			return nil, fmt.Errorf("redis %s: bad bulk length %q", args[0], body)
		}
		if n < 0 {
			return nil, errRedisNil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, fmt.Errorf("redis %s: %w", args[0], err)
		}
		return buf[:n], nil
	default:
		return nil, fmt.Errorf("redis %s: unexpected reply %q", args[0], line)
	}
}
