//! `cargo bench -p mandala-render`: the reference's `default_1024` and
//! `rich_1024` configurations, split into geometry (building the scene),
//! rasterization and PNG encoding, plus the whole `render_to_bytes`.
//! Each measurement cycles through eight seeds so one lucky design does not
//! decide the number.
#![allow(clippy::unwrap_used)]

mod support {
    pub mod configs;
}

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mandala_model::Format;
use support::configs::CONFIGS;

const SEEDS: u64 = 8;

fn bench(c: &mut Criterion) {
    for (name, make) in CONFIGS {
        let specs: Vec<_> = (0..SEEDS).map(|i| make(1000 + i)).collect();
        let scenes: Vec<_> = specs
            .iter()
            .map(|s| mandala_render::scene(s).unwrap())
            .collect();
        let pixmaps: Vec<_> = scenes
            .iter()
            .map(|s| mandala_render::raster::rasterize(s).unwrap())
            .collect();
        let mut group = c.benchmark_group(name);
        group.sample_size(30);
        let mut i = 0;
        group.bench_function("geometry", |b| {
            b.iter(|| {
                i = (i + 1) % specs.len();
                black_box(mandala_render::scene(&specs[i]).unwrap())
            });
        });
        group.bench_function("raster", |b| {
            b.iter(|| {
                i = (i + 1) % scenes.len();
                black_box(mandala_render::raster::rasterize(&scenes[i]).unwrap())
            });
        });
        group.bench_function("encode_png", |b| {
            b.iter(|| {
                i = (i + 1) % scenes.len();
                black_box(
                    mandala_render::encode(&scenes[i], Some(&pixmaps[i]), Format::Png).unwrap(),
                )
            });
        });
        group.bench_function("total_png", |b| {
            b.iter(|| {
                i = (i + 1) % specs.len();
                black_box(mandala_render::render_to_bytes(&specs[i]).unwrap())
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
