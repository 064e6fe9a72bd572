//! `forecourt bench search`: free-text vehicle search over a large inventory (100,000 cars
//! by default), the kinds of queries managers type — a model and year, a misspelled make, a
//! VIN's last 4 or 6 characters — timed from query text to rows, p50/p99, per engine.

use super::{percentile, Setup};
use crate::domain::vehicle::check_digit;
use crate::inventory::VehicleSearch;
use crate::store::{Store, VehicleInput};
use anyhow::bail;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Vehicles in the inventory.
    #[arg(long, default_value_t = 100_000)]
    vehicles: usize,
    /// Searches timed.
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    engine: String,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
}

const MAKES: &[(&str, &[&str])] = &[
    ("Toyota", &["RAV4", "Camry", "Corolla", "Land Cruiser", "Highlander", "Prius"]),
    ("Kia", &["Sportage", "Sorento", "Ceed", "Rio", "Niro"]),
    ("Hyundai", &["Tucson", "Santa Fe", "Elantra", "Kona", "i30"]),
    ("Volkswagen", &["Golf", "Passat", "Tiguan", "Touareg", "Polo", "ID.4"]),
    ("Skoda", &["Octavia", "Superb", "Kodiaq", "Karoq", "Fabia"]),
    ("BMW", &["X3", "X5", "320d", "520d", "X1"]),
    ("Mercedes-Benz", &["C 220", "E 300", "GLC", "GLE", "Vito"]),
    ("Audi", &["A4", "A6", "Q5", "Q7", "Q3"]),
    ("Renault", &["Megane", "Duster", "Kadjar", "Clio"]),
    ("Nissan", &["Qashqai", "X-Trail", "Leaf", "Juke"]),
    ("Mazda", &["CX-5", "Mazda 6", "CX-30"]),
    ("Ford", &["Kuga", "Focus", "Mondeo", "Ranger"]),
];

/// A valid VIN for the n-th car (check digit included), deterministic.
fn vin(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5eed;
    let mut v: Vec<u8> = (0..11)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ALPHABET[(x >> 33) as usize % ALPHABET.len()]
        })
        .collect();
    v.extend_from_slice(format!("{:06}", n % 1_000_000).as_bytes());
    let mut s = String::from_utf8(v).expect("ascii");
    let c = check_digit(&s);
    s.replace_range(8..9, &c.to_string());
    s
}

fn car(n: usize) -> VehicleInput {
    let (make, models) = MAKES[n % MAKES.len()];
    let model = models[(n / MAKES.len()) % models.len()];
    VehicleInput {
        vin: Some(vin(n)),
        vin_check_ok: true,
        make: make.into(),
        model: model.into(),
        year: Some(2008 + (n % 17) as i64),
        price_minor: Some(500_000 + (n as i64 % 5_000) * 1_000),
        currency: Some("USD".into()),
        mileage_km: Some((n % 300) as i64 * 1_000),
        erp_id: Some(format!("ERP-{n}")),
        ..VehicleInput::default()
    }
}

fn query(i: usize, vehicles: usize) -> String {
    let n = (i * 7_919) % vehicles;
    let c = car(n);
    let vin = c.vin.unwrap_or_default();
    match i % 6 {
        0 => format!("{} {}", c.model, c.year.unwrap_or(2019)),
        1 => format!("{} {}", c.make.to_lowercase(), c.model.to_lowercase()),
        2 => vin[11..].to_string(),
        3 => vin[13..].to_string(),
        // a misspelled make with a model
        4 => format!("{} {}", &c.make[..c.make.len() - 1], c.model),
        _ => format!("{} {}", c.make, c.year.unwrap_or(2019)),
    }
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let engines = super::engines(&a.engine)?;
    for e in engines {
        let Setup { dir: _dir, config, .. } = super::setup(e, &a.postgres_url).await?;
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;
        let t = Instant::now();
        let cars: Vec<VehicleInput> = (0..a.vehicles).map(car).collect();
        store.insert_vehicles(&cars, 0).await?;
        let loaded = t.elapsed();
        let search = VehicleSearch::default();
        // Warm the name cache and the database's caches, as a running service would be.
        search.search(&store, "toyota", 0, 10).await?;
        let mut lat = Vec::with_capacity(a.queries);
        let mut empty = Vec::new();
        for i in 0..a.queries {
            let q = query(i, a.vehicles);
            let t = Instant::now();
            let rows = search.search(&store, &q, 0, 10).await?;
            lat.push(t.elapsed().as_micros() as i64);
            if rows.is_empty() {
                empty.push(q);
            }
        }
        lat.sort_unstable();
        println!(
            "search {e}: {} vehicles (loaded in {:.1} s), {} searches: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} found nothing",
            a.vehicles,
            loaded.as_secs_f64(),
            a.queries,
            percentile(&lat, 0.5) as f64 / 1000.0,
            percentile(&lat, 0.99) as f64 / 1000.0,
            lat.last().copied().unwrap_or(0) as f64 / 1000.0,
            empty.len()
        );
        if !empty.is_empty() {
            bail!("searches for cars that exist found nothing: {:?}", &empty[..empty.len().min(10)]);
        }
        store.close().await;
    }
    Ok(())
}
