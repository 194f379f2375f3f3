// Package streamgate is the Go client of the streamgate gRPC service: pooled HTTP fetching,
// lazy pagination, distributed locks and sensor stream processing, each one call away.
//
// It is a thin, context-first layer over the generated grpc-go stubs in
// github.com/streamgate/streamgate/clients/go/gen/streamgate/v1 (aliased here where a caller
// needs the message types). Every method takes a context.Context, and every error that comes
// from the server is returned with its gRPC status intact, so status.Code(err) tells
// INVALID_ARGUMENT from PERMISSION_DENIED from UNAVAILABLE.
//
//	c, err := streamgate.Dial(ctx, "127.0.0.1:50051") // or http://…, https://…; does not block
//	if err != nil { return err }
//	defer c.Close()
//	resp, err := c.Fetch(ctx, "https://example.com/", streamgate.WithTimeout(5*time.Second))
package streamgate
