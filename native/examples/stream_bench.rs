//! Time the stream worker's native stages per event (release):
//! `cargo run --release --no-default-features --example stream_bench -- [ROUNDS]` (the
//! fastest of 5 slices of the rounds per stage).
//!
//! The 500 simulator records of `tests/fixtures/ocsf_http_requests.jsonl` are written as raw
//! Avro (`schemas/cloudflare.http_requests.avsc`), then timed: `avro::decode`,
//! `ocsf::Normalizer::normalize` of the decoded value, and `avro::encode_value` of the OCSF
//! record (`schemas/ocsf.http_activity.avsc`).
use std::hint::black_box;
use std::time::Instant;

use cfkafka_native::streams::avro::{decode, encode_value, parse_schema};
use cfkafka_native::streams::json;
use cfkafka_native::streams::ocsf::Normalizer;
use cfkafka_native::streams::value::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}{path}")).unwrap()
}

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map_or(200, |r| r.parse().expect("ROUNDS"));
    let raw = parse_schema(&read("../schemas/cloudflare.http_requests.avsc")).unwrap();
    let out = parse_schema(&read("../schemas/ocsf.http_activity.avsc")).unwrap();
    let normalizer =
        Normalizer::from_spec(&read("tests/fixtures/ocsf_http_requests.spec.json")).unwrap();
    let mut events: Vec<(Vec<u8>, String, Option<String>)> = Vec::new();
    for line in read("tests/fixtures/ocsf_http_requests.jsonl").lines() {
        let case = json::parse(line).unwrap();
        let Some(name) = case.get("name").and_then(Value::as_str) else {
            continue;
        };
        if !name.starts_with("sample ") {
            continue;
        }
        let mut body = Vec::new();
        if encode_value(&raw, case.get("value").unwrap(), &mut body).is_err() {
            continue;
        }
        let key = case.get("key").and_then(Value::as_str).unwrap().to_owned();
        let scope = case.get("scope").and_then(Value::as_str).map(str::to_owned);
        events.push((body, key, scope));
    }
    let n = events.len();
    assert!(n > 0, "no sample records");
    let decoded: Vec<Value> = events
        .iter()
        .map(|(b, _, _)| decode(&raw, b).unwrap())
        .collect();
    let normalized: Vec<Value> = decoded
        .iter()
        .zip(&events)
        .map(|(v, (_, k, s))| normalizer.normalize(v, k, s.as_deref()).unwrap())
        .collect();
    let bytes: usize = events.iter().map(|(b, _, _)| b.len()).sum();
    eprintln!(
        "{n} events, {:.0} raw Avro bytes each",
        bytes as f64 / n as f64
    );
    // each stage is timed in 5 slices of the rounds: the fastest slice counts (the machine
    // is shared: a slow slice is another process, not the code)
    let slice = (rounds / 5).max(1);
    let best = |run: &mut dyn FnMut()| -> f64 {
        (0..5)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..slice {
                    run();
                }
                start.elapsed().as_secs_f64() * 1e6 / f64::from(slice) / n as f64
            })
            .fold(f64::INFINITY, f64::min)
    };

    let t_decode = best(&mut || {
        for (body, _, _) in &events {
            black_box(decode(&raw, black_box(body)).unwrap());
        }
    });
    let t_normalize = best(&mut || {
        for (value, (_, key, scope)) in decoded.iter().zip(&events) {
            black_box(normalizer.normalize(black_box(value), key, scope.as_deref()));
        }
    });
    let t_both = best(&mut || {
        for (body, key, scope) in &events {
            let value = decode(&raw, body).unwrap();
            black_box(normalizer.normalize(&value, key, scope.as_deref()));
        }
    });
    let mut buf = Vec::with_capacity(16384);
    let t_encode = best(&mut || {
        for record in &normalized {
            buf.clear();
            encode_value(&out, black_box(record), &mut buf).unwrap();
            black_box(&buf);
        }
    });
    println!("decode            {t_decode:6.2} µs/event");
    println!("normalize         {t_normalize:6.2} µs/event");
    println!("decode+normalize  {t_both:6.2} µs/event");
    println!("encode_value OCSF {t_encode:6.2} µs/event");
}
