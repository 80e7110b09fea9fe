//! The client works from any executor, whichever backend runs the instance: tokio
//! current-thread and multi-thread runtimes, a smol executor, and `futures::executor::block_on`
//! on a plain thread, against each backend (so a smol backend inside a tokio application and
//! the other way round). Timers are exercised too, since a timer tied to the wrong reactor is
//! the classic failure here.

mod common;

use std::time::Duration;

use common::{run_on, Backend, Caller, Ctx};
use rro::models::{Distance, PointStruct, SearchRequest, VectorParams};
use rro::RroError;
use rro_core::protocol::calls::Sleep;

async fn full_session(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("x", VectorParams::new(2, Distance::Cosine))
        .await
        .unwrap();
    client
        .upsert_points(
            "x",
            vec![
                PointStruct::new(1u64, vec![1.0, 0.0]),
                PointStruct::new(2u64, vec![0.0, 1.0]),
            ],
        )
        .await
        .unwrap();
    let hits = client
        .search("x", SearchRequest::new(vec![0.1, 1.0], 1))
        .await
        .unwrap();
    assert_eq!(
        hits[0].id,
        2u64.into(),
        "{:?} from {:?}",
        ctx.backend,
        ctx.caller
    );
    // A timeout on the caller's side, and a sleep on the instance's side, both fire.
    let limit = Duration::from_millis(20);
    let slow = client
        .with_timeout(limit)
        .call(Sleep {
            duration: Duration::from_secs(60),
        })
        .await;
    assert_eq!(slow, Err(RroError::Timeout(limit)));
    client
        .call(Sleep {
            duration: Duration::from_millis(5),
        })
        .await
        .unwrap();
    // Concurrent calls from this executor.
    let counts = futures::future::join_all((0..16).map(|_| client.count_points("x"))).await;
    assert!(counts.into_iter().all(|c| c == Ok(2)));
    let report = client.shutdown().await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

macro_rules! caller_matrix {
    ($($backend_feature:literal => $backend_mod:ident: $backend:expr),* $(,)?) => {$(
        #[cfg(feature = $backend_feature)]
        mod $backend_mod {
            use super::*;

            #[test]
            fn from_block_on() {
                run_on(Caller::BlockOn, $backend, full_session);
            }

            #[test]
            fn from_smol_executor() {
                run_on(Caller::Smol, $backend, full_session);
            }

            #[cfg(feature = "tokio")]
            #[test]
            fn from_tokio_current_thread() {
                run_on(Caller::TokioCurrentThread, $backend, full_session);
            }

            #[cfg(feature = "tokio")]
            #[test]
            fn from_tokio_multi_thread() {
                run_on(Caller::TokioMultiThread, $backend, full_session);
            }
        }
    )*};
}

caller_matrix!(
    "tokio" => tokio_backend: Backend::Tokio,
    "smol" => smol_backend: Backend::Smol,
);
