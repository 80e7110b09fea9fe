//! Timeouts, panics, back-pressure and shutdown, on every backend.

mod common;

use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{assert_threads_gone, live_threads, Ctx};
use futures::channel::oneshot;
use futures::future::join_all;
use rro::models::{Distance, PointStruct, VectorParams};
use rro::RroError;
use rro_core::protocol::calls::{HoldInstance, Panic, Sleep};

backend_tests!(
    slow_request_times_out_and_instance_keeps_serving,
    panicking_request_is_an_internal_error,
    full_queue_fails_fast_with_overloaded,
    shutdown_with_100_in_flight_answers_all_and_stops_every_thread,
    shutdown_deadline_abandons_stuck_work,
    dropping_the_last_handle_shuts_down_without_blocking,
    caller_that_gives_up_cancels_the_work,
    earlier_deadline_fires_while_a_later_one_is_pending,
);

fn sleep(duration: Duration) -> Sleep {
    Sleep { duration }
}

async fn slow_request_times_out_and_instance_keeps_serving(ctx: Ctx) {
    let client = ctx.open_default().await;
    let limit = Duration::from_millis(50);
    let started = Instant::now();
    let slow = client
        .with_timeout(limit)
        .call(sleep(Duration::from_secs(60)))
        .await;
    assert_eq!(slow, Err(RroError::Timeout(limit)));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the timeout fired, not the sleep"
    );
    // The same handle with its default timeout, and the health check, still work.
    assert_eq!(client.call(sleep(Duration::from_millis(1))).await, Ok(()));
    assert!(client.health_check().await.is_ok());
    // The configured default applies to every call of a handle without an override.
    let (config, _) = ctx.unique_config();
    let strict = ctx
        .open(config.request_timeout(Duration::from_millis(30)))
        .await;
    assert_eq!(
        strict.call(sleep(Duration::from_secs(60))).await,
        Err(RroError::Timeout(Duration::from_millis(30)))
    );
    strict.shutdown().await.unwrap();
    client.shutdown().await.unwrap();
}

async fn panicking_request_is_an_internal_error(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("kept", VectorParams::new(1, Distance::Dot))
        .await
        .unwrap();
    for _ in 0..3 {
        match client
            .call(Panic {
                message: "boom from a test".into(),
            })
            .await
        {
            Err(RroError::Internal(message)) => {
                assert!(message.contains("boom from a test"), "{message}")
            }
            other => panic!("expected an internal error, got {other:?}"),
        }
    }
    assert!(client.is_healthy());
    assert!(
        client.collection_exists("kept").await.unwrap(),
        "state survives a panicking request"
    );
    client.shutdown().await.unwrap();
}

async fn full_queue_fails_fast_with_overloaded(ctx: Ctx) {
    const CAPACITY: usize = 4;
    let (config, _) = ctx.unique_config();
    let client = ctx.open(config.channel_capacity(CAPACITY)).await;
    let fast = client.fail_fast();

    // Stop the instance loop from receiving, and wait until it has.
    let (held_tx, held) = oneshot::channel();
    let (release, release_rx) = oneshot::channel();
    let mut hold = pin!(client.call(HoldInstance {
        held: held_tx,
        release: release_rx
    }));
    assert!(futures::poll!(hold.as_mut()).is_pending());
    held.await.unwrap();

    // Exactly CAPACITY fail-fast requests fit; the next one is refused at once.
    let mut queued = Vec::new();
    for _ in 0..CAPACITY {
        let mut call = Box::pin(fast.health_check());
        assert!(
            futures::poll!(call.as_mut()).is_pending(),
            "a request fits into the queue"
        );
        queued.push(call);
    }
    match futures::poll!(pin!(fast.health_check())) {
        Poll::Ready(Err(RroError::Overloaded { capacity })) => assert_eq!(capacity, CAPACITY),
        other => panic!("expected Overloaded, got {other:?}"),
    }
    // A handle that waits is not refused: it waits for room.
    let mut patient = Box::pin(client.health_check());
    assert!(futures::poll!(patient.as_mut()).is_pending());

    release.send(()).unwrap();
    assert_eq!(hold.await, Ok(()));
    for result in join_all(queued).await {
        assert!(result.is_ok(), "{result:?}");
    }
    assert!(patient.await.is_ok());
    client.shutdown().await.unwrap();
}

async fn shutdown_with_100_in_flight_answers_all_and_stops_every_thread(ctx: Ctx) {
    let (config, name) = ctx.unique_config();
    let client = ctx.open(config).await;
    client
        .create_collection("c", VectorParams::new(2, Distance::Dot))
        .await
        .unwrap();
    assert!(
        live_threads(&name).len() >= 6,
        "instance and pool threads are visible: {:?}",
        live_threads(&name)
    );

    let calls = (0..100u64).map(|i| {
        let client = client.clone();
        async move {
            match i % 4 {
                0 => client
                    .call(sleep(Duration::from_millis(20)))
                    .await
                    .map(|_| ()),
                1 => client
                    .upsert_points("c", vec![PointStruct::new(i, vec![1.0, i as f32])])
                    .await
                    .map(|_| ()),
                2 => client.health_check().await.map(|_| ()),
                _ => client.count_points("c").await.map(|_| ()),
            }
        }
    });
    let shutdown = async {
        // Let the first requests get going, then shut down under them.
        futures::pending!();
        client.shutdown().await
    };
    let (results, report) = futures::join!(join_all(calls), shutdown);
    let report = report.unwrap();
    assert!(report.is_clean(), "{report:?}");
    for result in &results {
        assert!(
            matches!(result, Ok(()) | Err(RroError::ChannelClosed)),
            "{result:?}"
        );
    }
    assert!(
        results.iter().any(Result::is_ok),
        "requests queued before shutdown are served"
    );
    assert_threads_gone(&name);
    assert!(!client.is_healthy());
    assert_eq!(client.health_check().await, Err(RroError::ChannelClosed));
    assert_eq!(
        client.shutdown().await.unwrap(),
        report,
        "a second shutdown returns the same report"
    );
}

async fn shutdown_deadline_abandons_stuck_work(ctx: Ctx) {
    let (config, name) = ctx.unique_config();
    let client = ctx
        .open(config.shutdown_timeout(Duration::from_millis(200)))
        .await;
    let mut stuck = Box::pin(client.call(sleep(Duration::from_secs(600))));
    assert!(futures::poll!(stuck.as_mut()).is_pending());
    // Once the instance reports the request as running, shut down with it still in flight.
    while client.health_check().await.unwrap().queued > 0 {}
    let started = Instant::now();
    let (report, stuck) = futures::join!(client.shutdown(), stuck);
    let report = report.unwrap();
    assert_eq!(report.requests_abandoned, 1, "{report:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the deadline bounds shutdown"
    );
    assert_eq!(stuck, Err(RroError::ChannelClosed));
    assert_threads_gone(&name);
}

async fn dropping_the_last_handle_shuts_down_without_blocking(ctx: Ctx) {
    let (config, name) = ctx.unique_config();
    let client = ctx.open(config).await;
    client.health_check().await.unwrap();
    // Hold the instance loop on a gate that is released only after the handles are dropped:
    // if dropping the last handle waited for the instance, this test would deadlock (and the
    // harness's hard timeout would fail it).
    let (held_tx, held) = oneshot::channel();
    let (release, release_rx) = oneshot::channel();
    let holder = client.clone();
    let mut hold = Box::pin(async move {
        holder
            .call(HoldInstance {
                held: held_tx,
                release: release_rx,
            })
            .await
    });
    assert!(futures::poll!(hold.as_mut()).is_pending());
    held.await.unwrap();
    drop(hold);
    let clone = client.clone();
    drop(client);
    drop(clone);
    release.send(()).unwrap();
    // The instance winds down on its own.
    assert_threads_gone(&name);
}

async fn caller_that_gives_up_cancels_the_work(ctx: Ctx) {
    let (config, _) = ctx.unique_config();
    // One general thread: if abandoned sleeps kept running, they would still be counted below.
    let client = ctx
        .open(
            config
                .general_threads(1)
                .shutdown_timeout(Duration::from_secs(20)),
        )
        .await;
    for _ in 0..5 {
        let result = client
            .with_timeout(Duration::from_millis(10))
            .call(sleep(Duration::from_secs(600)))
            .await;
        assert_eq!(result, Err(RroError::Timeout(Duration::from_millis(10))));
    }
    // Had the five 600 s sleeps kept running, shutdown would have to abandon them.
    let report = client.shutdown().await.unwrap();
    assert_eq!(report.requests_abandoned, 0, "{report:?}");
    assert!(report.elapsed < Duration::from_secs(20));
}

async fn earlier_deadline_fires_while_a_later_one_is_pending(ctx: Ctx) {
    let client = ctx.open_default().await;
    // The watchdog sleeps until the 30 s deadline of the first call ...
    let mut long = Box::pin(client.call(sleep(Duration::from_secs(600))));
    assert!(futures::poll!(long.as_mut()).is_pending());
    // ... and must be re-armed for a call that gives up much sooner.
    for limit in [Duration::from_millis(20), Duration::from_millis(5)] {
        let started = Instant::now();
        assert_eq!(
            client
                .with_timeout(limit)
                .call(sleep(Duration::from_secs(600)))
                .await,
            Err(RroError::Timeout(limit))
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    drop(long);
    client.shutdown().await.unwrap();
}
