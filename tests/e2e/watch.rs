//! WatchAssignments pushes a department's own events, and resumes.

use std::time::Duration;

use hotline_proto::v1 as pb;
use tokio_stream_shim::next_within;

use crate::world::*;

mod tokio_stream_shim {
    use std::time::Duration;

    /// Waits for the next message of a stream, failing the test after `limit`.
    pub async fn next_within(
        stream: &mut tonic::Streaming<super::pb::AssignmentNotification>,
        limit: Duration,
    ) -> Option<super::pb::AssignmentNotification> {
        tokio::time::timeout(limit, stream.message())
            .await
            .ok()?
            .ok()?
    }
}

#[tokio::test]
async fn a_department_watches_its_own_dispatches_and_urges_only() {
    let w = World::new().await;
    let mut stream = w
        .server
        .departments(&w.water)
        .watch_assignments(pb::WatchAssignmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // Someone else's ticket first: must not reach the water bureau.
    w.dispatched("道路破损", TRANSPORT, &[]).await;
    let ours = w.dispatched("停水", WATER, &[]).await;
    w.server
        .supervision(&w.supervisor)
        .urge_ticket(pb::UrgeTicketRequest {
            ticket_id: ours.id.clone(),
            expected_version: None,
            note: "请尽快签收".into(),
        })
        .await
        .unwrap();
    let first = next_within(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(first.ticket_id, ours.id);
    assert_eq!(first.kind, "DISPATCHED");
    assert_eq!(first.department_id, WATER);
    let second = next_within(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(second.ticket_id, ours.id);
    assert_eq!(second.kind, "URGED");
    assert!(
        next_within(&mut stream, Duration::from_millis(300))
            .await
            .is_none()
    );

    // Resuming after the dispatch replays the urge, and nothing of the other department.
    let mut resumed = w
        .server
        .departments(&w.water)
        .watch_assignments(pb::WatchAssignmentsRequest {
            department_id: String::new(),
            after_event_id: first.event_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let replayed = next_within(&mut resumed, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(replayed.event_id, second.event_id);
    assert_eq!(replayed.kind, "URGED");
}
