//! The blocking client works on plain threads and refuses, with an error, where blocking would
//! stall an executor.

mod common;

use common::{Backend, Ctx};
use rro::blocking::BlockingClient;
use rro::models::{Distance, GetPoints, PointStruct, PointsSelector, SearchRequest, VectorParams};
use rro::RroError;

/// Run a synchronous scenario on a plain thread against each backend.
macro_rules! blocking_tests {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[cfg(feature = "tokio")]
            #[test]
            fn tokio() {
                super::$scenario(super::open(super::Backend::Tokio));
            }

            #[cfg(feature = "smol")]
            #[test]
            fn smol() {
                super::$scenario(super::open(super::Backend::Smol));
            }
        }
    )*};
}

fn open(backend: Backend) -> BlockingClient {
    let ctx = Ctx {
        backend,
        caller: common::Caller::BlockOn,
    };
    BlockingClient::new(futures::executor::block_on(ctx.open_default()))
}

blocking_tests!(
    every_call_works_on_a_plain_thread,
    refuses_inside_a_futures_executor,
    refuses_inside_tokio
);

fn every_call_works_on_a_plain_thread(client: BlockingClient) {
    assert!(client.is_healthy());
    client.health_check().unwrap();
    client
        .create_collection("b", VectorParams::new(2, Distance::Dot))
        .unwrap();
    assert!(client.collection_exists("b").unwrap());
    assert_eq!(client.list_collections().unwrap().collections.len(), 1);
    assert_eq!(client.collection_info("b").unwrap().points_count, 0);
    client
        .upsert_points(
            "b",
            vec![
                PointStruct::new(1u64, vec![1.0, 0.0]),
                PointStruct::new(2u64, vec![0.0, 1.0]),
            ],
        )
        .unwrap();
    assert_eq!(client.count_points("b").unwrap(), 2);
    assert_eq!(
        client.get_points("b", GetPoints::new([2u64])).unwrap()[0].id,
        2u64.into()
    );
    assert_eq!(
        client
            .search("b", SearchRequest::new(vec![1.0, 0.1], 1))
            .unwrap()[0]
            .id,
        1u64.into()
    );
    client
        .delete_points("b", PointsSelector::ids([1u64]))
        .unwrap();
    assert_eq!(client.count_points("b").unwrap(), 1);
    client.flush().unwrap();
    assert!(client.delete_collection("b").unwrap());
    assert!(client.shutdown().unwrap().is_clean());
    assert!(!client.is_healthy());
}

fn refuses_inside_a_futures_executor(client: BlockingClient) {
    let inside = futures::executor::block_on(async { client.health_check() });
    assert!(
        matches!(inside, Err(RroError::BlockingNotAllowed(_))),
        "{inside:?}"
    );
    client.health_check().unwrap();
    client.shutdown().unwrap();
}

fn refuses_inside_tokio(client: BlockingClient) {
    #[cfg(feature = "tokio")]
    {
        let runtime = rro_tokio::tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let inside = runtime.block_on(async { client.count_points("any") });
        assert!(
            matches!(inside, Err(RroError::BlockingNotAllowed(_))),
            "{inside:?}"
        );
    }
    // Outside the runtime the same client works.
    assert!(client.health_check().is_ok());
    client.shutdown().unwrap();
}
