//! Single-threaded throughput of the two cipher suites on 4 KiB blocks (issue #3).
//!
//! Two levels, both suites:
//! * `seal` / `open`: [`Aead::seal`] and [`Aead::open`] on one 4096-byte block at a time, with
//!   the per-block random nonce `seal` draws and 35 bytes of associated data shaped like the
//!   device's (container id ‖ domain ‖ index ‖ version ‖ sequence). `seal` encrypts the same
//!   in-cache buffer over and over (as `openssl speed` does); `open` first copies a valid
//!   ciphertext block into the buffer (a 4 KiB copy from L2, about 1–2% of the time).
//! * `device write` / `device read`: [`BlockDevice::write_blocks`] and
//!   [`BlockDevice::read_blocks`] of 1 MiB runs through an [`EncryptedDevice`] on an
//!   in-memory storage: encryption + layout (meta blocks, group splits) + copies, no disk.
//!
//! Each figure is the best of 3 rounds of at least `SECVOL_BENCH_SECS` seconds (default 1)
//! and 256 MiB. Prints a markdown table in MB/s (10^6 bytes per second).
//!
//! Run: `cargo bench -p secvol-core --bench cipher_throughput` (or `bench/crypto.sh`, which
//! adds the `openssl speed` figures).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secvol_core::cipher::{Aead, TAG_LEN};
use secvol_core::secret::SecretKey;
use secvol_core::testing::MemStorage;
use secvol_core::{
    BLOCK_SIZE, BlockDevice, CipherSuite, CreateOptions, EncryptedDevice, ReadMode, ScryptParams,
    SecretString, create_on,
};

/// Rounds per measurement; the best one is reported.
const ROUNDS: usize = 3;
/// Minimum bytes processed per round.
const MIN_BYTES: u64 = 256 << 20;
/// Blocks of distinct ciphertext cycled through by the `open` measurement (256 KiB).
const OPEN_SET_BLOCKS: usize = 64;
/// Bytes per device call.
const RUN_BYTES: usize = 1 << 20;
/// Logical bytes of the device region written and read (cycled through in 1 MiB runs).
const DEVICE_REGION_BYTES: usize = 64 << 20;

/// The device's associated data for data block `index`: container id ‖ domain (1 = data
/// block) ‖ index ‖ format version ‖ sequence number (0 for data blocks).
fn associated_data(container_id: &[u8; 16], index: u64) -> [u8; 35] {
    let mut aad = [0u8; 35];
    aad[..16].copy_from_slice(container_id);
    aad[16] = 1;
    aad[17..25].copy_from_slice(&index.to_le_bytes());
    aad[25..27].copy_from_slice(&1u16.to_le_bytes());
    aad
}

fn min_duration() -> Duration {
    let secs = std::env::var("SECVOL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs)
}

/// Run `step` (which processes `bytes_per_step` bytes) until at least `min` has elapsed and
/// `MIN_BYTES` have been processed; return MB/s. Repeated `ROUNDS` times, best kept.
fn measure(min: Duration, bytes_per_step: u64, mut step: impl FnMut()) -> f64 {
    // Warm-up: caches, page faults, CPU frequency.
    let warm = Instant::now();
    while warm.elapsed() < min / 4 {
        step();
    }
    let mut best = 0.0f64;
    for _ in 0..ROUNDS {
        let mut bytes = 0u64;
        let start = Instant::now();
        loop {
            // Check the clock every 16 steps only.
            for _ in 0..16 {
                step();
            }
            bytes += 16 * bytes_per_step;
            let elapsed = start.elapsed();
            if elapsed >= min && bytes >= MIN_BYTES {
                best = best.max(bytes as f64 / elapsed.as_secs_f64() / 1e6);
                break;
            }
        }
    }
    best
}

fn bench_seal(suite: CipherSuite, min: Duration) -> f64 {
    let aead = Aead::new(suite, &SecretKey::random());
    let container_id = [0x5a; 16];
    let mut block = vec![0xa5u8; BLOCK_SIZE];
    let mut nonce = vec![0u8; suite.nonce_len()];
    let mut index = 0u64;
    measure(min, BLOCK_SIZE as u64, || {
        index = index.wrapping_add(1);
        let aad = associated_data(&container_id, index);
        let tag = aead.seal(&aad, black_box(&mut block), &mut nonce);
        black_box((&tag, &nonce));
    })
}

fn bench_open(suite: CipherSuite, min: Duration) -> f64 {
    let aead = Aead::new(suite, &SecretKey::random());
    let container_id = [0x5a; 16];
    let nonce_len = suite.nonce_len();
    // A set of valid sealed blocks; each `open` decrypts a fresh copy of one of them.
    let mut ciphertext = vec![0u8; OPEN_SET_BLOCKS * BLOCK_SIZE];
    let mut nonces = vec![0u8; OPEN_SET_BLOCKS * nonce_len];
    let mut tags = vec![[0u8; TAG_LEN]; OPEN_SET_BLOCKS];
    for (i, ((block, nonce), tag)) in ciphertext
        .chunks_exact_mut(BLOCK_SIZE)
        .zip(nonces.chunks_exact_mut(nonce_len))
        .zip(&mut tags)
        .enumerate()
    {
        block.fill(i as u8);
        *tag = aead.seal(&associated_data(&container_id, i as u64), block, nonce);
    }
    let mut work = vec![0u8; BLOCK_SIZE];
    let mut i = 0usize;
    measure(min, BLOCK_SIZE as u64, || {
        i = (i + 1) % OPEN_SET_BLOCKS;
        work.copy_from_slice(&ciphertext[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE]);
        let aad = associated_data(&container_id, i as u64);
        let nonce = &nonces[i * nonce_len..(i + 1) * nonce_len];
        aead.open(nonce, &aad, black_box(&mut work), &tags[i])
            .expect("a block sealed by this AEAD opens");
        black_box(&work);
    })
}

/// A fresh container on in-memory storage with its device open and `DEVICE_REGION_BYTES`
/// (plus block 0, which lives in the super record) of length. The key is the container's
/// own random master key (`SecretKey::random()` inside `create_on`).
fn memory_device(suite: CipherSuite) -> EncryptedDevice {
    let block_meta = suite.block_meta_len();
    let per_group = BLOCK_SIZE / block_meta;
    let groups = (DEVICE_REGION_BYTES / BLOCK_SIZE).div_ceil(per_group) + 1;
    // Headers, super slots, groups (meta block + data blocks), slack.
    let size = (256 << 10) + groups * (per_group + 1) * BLOCK_SIZE;
    let options = CreateOptions {
        size: size as u64,
        suite,
        kdf: ScryptParams::with_log_n(ScryptParams::MIN_LOG_N),
        quick: true,
    };
    let password = SecretString::from("benchmark password, not a secret");
    let container = create_on(
        Arc::new(MemStorage::default()),
        Path::new("bench.secvol"),
        &password,
        &options,
        &mut |_, _| {},
    )
    .expect("create an in-memory container");
    let device = container
        .open_device(false)
        .expect("open the in-memory device");
    device
        .set_len((DEVICE_REGION_BYTES + BLOCK_SIZE) as u64)
        .expect("set the device length");
    device
}

fn bench_device(suite: CipherSuite, min: Duration) -> (f64, f64) {
    let device = memory_device(suite);
    let runs = (DEVICE_REGION_BYTES / RUN_BYTES) as u64;
    let run_blocks = (RUN_BYTES / BLOCK_SIZE) as u64;
    // Start at block 1: block 0 is kept in memory and only sealed at `sync`.
    let first_block = |run: u64| 1 + run * run_blocks;
    let mut data = vec![0u8; RUN_BYTES];
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = (i % 251) as u8;
    }
    let mut run = 0u64;
    let write = measure(min, RUN_BYTES as u64, || {
        device
            .write_blocks(first_block(run), black_box(&data))
            .expect("device write");
        run = (run + 1) % runs;
    });
    device.sync().expect("device sync");
    // Every run of the region has been written at least once: reads decrypt real data.
    let mut buf = vec![0u8; RUN_BYTES];
    let mut run = 0u64;
    let read = measure(min, RUN_BYTES as u64, || {
        device
            .read_blocks(first_block(run), black_box(&mut buf), ReadMode::Strict)
            .expect("device read");
        run = (run + 1) % runs;
    });
    assert_eq!(buf, data, "the device reads back what was written");
    (write, read)
}

fn main() {
    // `cargo bench` passes `--bench` (and any filter); this harness takes no arguments.
    let min = min_duration();
    println!(
        "secvol cipher throughput: 1 thread, {BLOCK_SIZE}-byte blocks, best of {ROUNDS} rounds \
         of >= {:.1} s and >= {} MiB; MB/s = 10^6 bytes/s",
        min.as_secs_f64(),
        MIN_BYTES >> 20
    );
    println!();
    println!("| suite | operation | MB/s |");
    println!("|---|---|---:|");
    for suite in CipherSuite::ALL {
        let seal = bench_seal(suite, min);
        println!("| {suite} | seal | {seal:.0} |");
        let open = bench_open(suite, min);
        println!("| {suite} | open | {open:.0} |");
        let (write, read) = bench_device(suite, min);
        println!("| {suite} | device write | {write:.0} |");
        println!("| {suite} | device read | {read:.0} |");
    }
}
