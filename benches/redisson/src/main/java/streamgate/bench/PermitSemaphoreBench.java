package streamgate.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.redisson.Redisson;
import org.redisson.api.RPermitExpirableSemaphore;
import org.redisson.api.RedissonClient;
import org.redisson.config.Config;

/**
 * The workload of benches/semaphore.rs {@code semaphore_counter_vs_floor} on Redisson's
 * RPermitExpirableSemaphore: {@code workers} threads each take {@code each} permits of a
 * semaphore of {@code limit}, one at a time, acquiring with a wait and a lease as streamgate's
 * AcquireLock does, holding each for {@code hold_ms}, then releasing it by its permit id.
 *
 * <p>One RedissonClient serves every thread, as one streamgate server serves every client.
 * A warm-up round on another semaphore runs first (connections, JIT, script cache), so the
 * timed round measures hand-offs, not start-up.
 *
 * <p>Usage: {@code redis_url workers limit each hold_ms lease_ms wait_ms}. Prints one line,
 * {@code wall_s=<seconds> most=<most permits seen held at once>}; exits non-zero when an
 * acquire timed out or a worker failed.
 */
public final class PermitSemaphoreBench {
    private PermitSemaphoreBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 7) {
            System.err.println("usage: redis_url workers limit each hold_ms lease_ms wait_ms");
            System.exit(2);
        }
        String url = args[0];
        int workers = Integer.parseInt(args[1]);
        int limit = Integer.parseInt(args[2]);
        int each = Integer.parseInt(args[3]);
        long holdMs = Long.parseLong(args[4]);
        long leaseMs = Long.parseLong(args[5]);
        long waitMs = Long.parseLong(args[6]);

        Config config = new Config();
        config.useSingleServer().setAddress(url);
        RedissonClient redisson = Redisson.create(config);
        try {
            round(redisson, workers, limit, 1, holdMs, leaseMs, waitMs);
            long started = System.nanoTime();
            int most = round(redisson, workers, limit, each, holdMs, leaseMs, waitMs);
            double wall = (System.nanoTime() - started) / 1e9;
            System.out.printf("wall_s=%.6f most=%d%n", wall, most);
        } finally {
            redisson.shutdown();
        }
    }

    /** One round on a fresh semaphore; returns the most permits seen held at once. */
    private static int round(RedissonClient redisson, int workers, int limit, int each,
                             long holdMs, long leaseMs, long waitMs) throws Exception {
        RPermitExpirableSemaphore sem =
            redisson.getPermitExpirableSemaphore("bench-redisson-" + UUID.randomUUID());
        if (!sem.trySetPermits(limit)) {
            throw new IllegalStateException("a fresh semaphore already had permits");
        }
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            Thread t = new Thread(() -> {
                try {
                    for (int i = 0; i < each; i++) {
                        String permit = sem.tryAcquire(waitMs, leaseMs, TimeUnit.MILLISECONDS);
                        if (permit == null) {
                            throw new IllegalStateException("no permit within " + waitMs + " ms");
                        }
                        most.accumulateAndGet(inside.incrementAndGet(), Math::max);
                        Thread.sleep(holdMs);
                        inside.decrementAndGet();
                        sem.release(permit);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        sem.delete();
        if (failure.get() != null) {
            throw new IllegalStateException("a worker failed", failure.get());
        }
        return most.get();
    }
}
