//! The read-ahead device: sequential reads are served from prefetched blocks with the right
//! bytes, and a write or length change is never hidden by a stale prefetch.

mod common;

use std::sync::Arc;

use common::*;
use secvol_core::{BlockDevice, CipherSuite, ReadAheadDevice, ReadMode};

const BLOCK: usize = 4096;

fn block_data(index: u64, version: u8) -> Vec<u8> {
    pattern(index, version)
}

fn filled_device() -> (Arc<dyn BlockDevice>, u64) {
    let (_storage, unlocked) = new_container(CipherSuite::Aes256Gcm);
    let inner: Arc<dyn BlockDevice> = Arc::new(unlocked.open_device(false).unwrap());
    let blocks = inner.capacity_blocks();
    fill_blocks(&*inner, blocks);
    (inner, blocks)
}

fn read(device: &dyn BlockDevice, first: u64, count: u64) -> Vec<u8> {
    let mut out = vec![0u8; count as usize * BLOCK];
    device
        .read_blocks(first, &mut out, ReadMode::Strict)
        .unwrap();
    out
}

fn expected(first: u64, count: u64, version: impl Fn(u64) -> u8) -> Vec<u8> {
    (first..first + count)
        .flat_map(|i| block_data(i, version(i)))
        .collect()
}

#[test]
fn a_sequential_read_is_served_ahead_with_the_right_bytes() {
    let (inner, blocks) = filled_device();
    let device = ReadAheadDevice::new(inner).unwrap();
    let page = 16;
    for first in (0..blocks - page).step_by(page as usize) {
        assert_eq!(
            read(&device, first, page),
            expected(first, page, |_| 0),
            "at {first}"
        );
        // On a busy machine the worker may lag behind; wait, so that hits are certain.
        device.wait_idle();
    }
    assert!(device.hits() > 0, "no read was served from read-ahead");
}

#[test]
fn writes_and_length_changes_are_never_hidden_by_a_prefetch() {
    let (inner, blocks) = filled_device();
    let device = ReadAheadDevice::new(inner).unwrap();
    let page = 16u64;
    let mut version = vec![0u8; blocks as usize];
    let mut next = 0;
    let mut round = 1u8;
    while next + 8 * page < blocks {
        // Read on sequentially, so the blocks ahead get prefetched (waiting for each
        // prefetch to finish, so that the next read is served from it)...
        for _ in 0..3 {
            assert_eq!(
                read(&device, next, page),
                expected(next, page, |i| version[i as usize]),
                "at {next}"
            );
            device.wait_idle();
            next += page;
        }
        // ...then overwrite blocks just ahead, which the last prefetch holds, and read on
        // through them.
        let target = next + u64::from(round % 7);
        let mut data = Vec::new();
        for i in target..target + 3 {
            version[i as usize] = round;
            data.extend_from_slice(&block_data(i, round));
        }
        device.write_blocks(target, &data).unwrap();
        round = round.wrapping_add(1).max(1);
    }
    assert!(device.hits() > 0, "the reads never used read-ahead");
    // Shrinking the device drops everything prefetched past the new end.
    let half = blocks / 2;
    read(&device, half - 2 * page, page);
    read(&device, half - page, page);
    device.set_len(half * BLOCK as u64).unwrap();
    let mut beyond = vec![0u8; BLOCK];
    assert!(
        device
            .read_blocks(half + 1, &mut beyond, ReadMode::Strict)
            .is_err()
    );
}
