//! Frame loops (uploaded clips, streams) on the server's workers beside `/predict`.

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc,
};

use super::*;
use crate::{pipeline::FramePredictor, server::FrameLoop};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_is_served_while_frame_loops_fill_their_own_share_and_neither_starves() {
    // One worker and no queue: one place for requests, two frame loops beside it (an upload
    // and a stream).
    let state = server(
        |server| {
            server.workers = 1;
            server.max_queue = 0;
            server.video.max_uploads = 1;
            server.streams.max = 1;
        },
        "",
        false,
    );
    let app = app_of(state.clone());
    let frame = Arc::new(image::load_from_memory(&astronaut()).unwrap());
    let expected_frame = model().predict(&frame).unwrap().detections().to_vec();
    let lanes = [
        state.frame_lane(FrameLoop::Upload).expect("a clip's loop"),
        state.frame_lane(FrameLoop::Stream).expect("a stream's loop"),
    ];
    for kind in [FrameLoop::Upload, FrameLoop::Stream] {
        assert!(state.frame_lane(kind).is_none(), "a second {kind:?} finds its kind's one place taken");
    }
    assert_eq!(FramePredictor::task(&lanes[0]), TaskKind::Detection);

    let stop = Arc::new(AtomicBool::new(false));
    let frames_done = Arc::new(AtomicUsize::new(0));
    let loops: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let (stop, frames_done, frame, expected) =
                (stop.clone(), frames_done.clone(), frame.clone(), expected_frame.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let prediction = lane.predict(&frame).expect("a frame is predicted");
                    assert_eq!(prediction.detections(), expected.as_slice(), "a frame on the workers");
                    frames_done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let started = Instant::now();
    while frames_done.load(Ordering::SeqCst) < 2 {
        assert!(started.elapsed() < Duration::from_secs(20), "the frame loops reached the worker");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Each loop keeps a frame queued or running all along, yet every request is admitted.
    let requests = 4;
    let before = frames_done.load(Ordering::SeqCst);
    let expected = expected(&astronaut());
    for request in 0..requests {
        let reply = send(&app, post_body("/predict", "image/png", astronaut())).await;
        assert_eq!(
            reply.status,
            200,
            "request {request} beside the frame loops: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_close(&without_timings(reply.json()), &expected, "/predict beside the frame loops");
    }
    // Requests go before queued frames, yet the loops got the worker between the requests
    // (and would after FRAME_MAX_WAIT under a flood of them).
    let during = frames_done.load(Ordering::SeqCst) - before;
    assert!(during >= 1, "{during} frames while {requests} requests were served");
    assert_eq!(sample(&state, r#"inferx_rejected_requests_total{reason="overloaded"}"#), 0.0);

    stop.store(true, Ordering::SeqCst);
    loops.into_iter().for_each(|frame_loop| frame_loop.join().expect("a frame loop ends cleanly"));
    assert!(state.frame_lane(FrameLoop::Upload).is_some(), "a loop that ended gives its place back");
    assert!(state.frame_lane(FrameLoop::Stream).is_some(), "a loop that ended gives its place back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_loops_frames_keep_the_weak_boxes_of_predict_track_and_requests_keep_the_servers_threshold() {
    let state = server(|_| {}, "", false);
    let app = app_of(state.clone());
    let frame = image::load_from_memory(&astronaut()).unwrap();
    let tracking = crate::tracking::TrackingConfig::default();
    let lowered = crate::sequence::tracking_confidence(Some(model().decode_options().confidence), &tracking);
    // What `predict --track` detects: the same model with the threshold lowered.
    let options = PipelineOptions {
        input_size: Some(320),
        confidence: Some(lowered),
        ..PipelineOptions::for_task(TaskKind::Detection)
    };
    let tracked_model = Pipeline::load(fixture("models/nudenet-320n.onnx"), options).unwrap();
    let expected_tracked = tracked_model.predict(&frame).unwrap().detections().to_vec();
    let plain_lane = state.frame_lane(FrameLoop::Stream).expect("a place");
    let tracked_lane = state.frame_lane(FrameLoop::Upload).expect("a place").for_tracking(&tracking);
    let (plain, tracked) = tokio::task::spawn_blocking(move || {
        (plain_lane.predict(&frame).unwrap(), tracked_lane.predict(&frame).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(tracked.detections(), expected_tracked.as_slice());
    assert!(
        tracked.detections().len() > plain.detections().len(),
        "the photo has boxes between {lowered} and the server's threshold: {} against {}",
        tracked.detections().len(),
        plain.detections().len()
    );
    // The sessions' own threshold is untouched: a request after gets the plain detections.
    let reply = send(&app, post_body("/predict", "image/png", astronaut())).await;
    assert_close(&without_timings(reply.json()), &expected(&astronaut()), "/predict after a tracked frame");
}
