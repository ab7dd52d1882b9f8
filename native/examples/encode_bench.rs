//! Profile the encoder without Python (e.g. under `perf record`):
//! `cargo run --release --no-default-features --example encode_bench -- SPEC LINES [PASSES]`.
//!
//! LINES is NDJSON; SPEC describes the schema, one field per line (`name null_hex|-
//! prefix_hex:kind:items;... json_prefix_hex|-`, first line `extra POS HEX`), written from
//! the repository root with:
//!
//! ```text
//! .venv/bin/python -c 'import schemas; from connector import fastencode as f; from connector.feeds.http_requests import HttpRequests as H
//! fs, x = f.native_spec(schemas.raw(H.schema), H.json_fields); h = lambda b: "-" if b is None else b.hex()
//! print(f"extra {x[0]} {x[1].hex()}"); [print(n, h(z), ";".join(f"{p.hex()}:{k}:{i or chr(32)[:0]}" for p, k, i in bs), h(j)) for n, z, bs, j in fs]' > /tmp/spec.txt
//! ```
use cfkafka_native::encoder::{Branch, Codec, FieldSpec, Kind, Prim, Scratch};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let spec = std::fs::read_to_string(&args[1]).expect("spec");
    let data = std::fs::read(&args[2]).expect("lines");
    let passes: usize = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(50);
    let mut extra = None;
    let mut fields = Vec::new();
    for line in spec.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        if parts[0] == "extra" {
            extra = Some((parts[1].parse().unwrap_or(0), hex(parts[2])));
            continue;
        }
        let branches = parts[2]
            .split(';')
            .map(|b| {
                let x: Vec<&str> = b.split(':').collect();
                let kind = match x[1] {
                    "array" => Kind::Array(Prim::parse(x[2]).expect("items")),
                    "map" => Kind::Map,
                    p => Kind::Prim(Prim::parse(p).expect("prim")),
                };
                Branch {
                    prefix: hex(x[0]),
                    kind,
                }
            })
            .collect();
        fields.push(FieldSpec {
            name: parts[0].into(),
            null: (parts[1] != "-").then(|| hex(parts[1])),
            branches,
            json: (parts[3] != "-").then(|| hex(parts[3])),
        });
    }
    let codec = Codec::new(fields, extra, "RayID", vec![0, 0, 0, 0, 1]).expect("codec");
    let lines: Vec<&[u8]> = data
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut s = Scratch::default();
    let mut best = f64::MAX;
    let mut ok = 0usize;
    for _ in 0..passes {
        let t = std::time::Instant::now();
        ok = 0;
        for line in &lines {
            ok += usize::from(codec.encode_into(line, &mut s).is_ok());
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{} lines, {} encoded, best {:.2} us/line",
        lines.len(),
        ok,
        best / lines.len() as f64 * 1e6
    );
}
