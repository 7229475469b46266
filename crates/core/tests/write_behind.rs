//! The write-behind device: reads see queued writes, sync drains the queue, growth is
//! synchronous, and a failed background write is reported by every later call.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use secvol_core::testing::{FailingStorage, MemStorage};
use secvol_core::{BlockDevice, BlockError, CipherSuite, ReadMode, WriteBehindDevice, create_on};

const BLOCK: usize = 4096;

fn data(seed: u8, blocks: usize) -> Vec<u8> {
    (0..blocks * BLOCK)
        .map(|i| seed.wrapping_add((i / 7) as u8))
        .collect()
}

fn inner_device() -> Arc<dyn BlockDevice> {
    let (_storage, unlocked) = new_container(CipherSuite::Aes256Gcm);
    Arc::new(unlocked.open_device(false).unwrap())
}

#[test]
fn reads_see_queued_writes_and_the_latest_write_wins() {
    let inner = inner_device();
    inner.set_len(64 * BLOCK as u64).unwrap();
    let device = WriteBehindDevice::new(Arc::clone(&inner)).unwrap();
    for round in 0..50u8 {
        device.write_blocks(3, &data(round, 5)).unwrap();
        device.write_blocks(6, &data(round ^ 0x55, 2)).unwrap();
    }
    let mut out = vec![0u8; 6 * BLOCK];
    device.read_blocks(2, &mut out, ReadMode::Strict).unwrap();
    let mut expected = vec![0u8; BLOCK];
    expected.extend_from_slice(&data(49, 5)[..3 * BLOCK]);
    expected.extend_from_slice(&data(49 ^ 0x55, 2));
    assert_eq!(out, expected);
}

#[test]
fn sync_makes_every_queued_write_reach_the_device() {
    let inner = inner_device();
    let blocks = inner.capacity_blocks();
    inner.set_len(blocks * BLOCK as u64).unwrap();
    let device = WriteBehindDevice::new(Arc::clone(&inner)).unwrap();
    // Many rounds over the whole device: more than the queue holds, so writers also wait.
    let chunk = 16u64;
    for round in 0..40u8 {
        for first in (0..blocks - chunk).step_by(chunk as usize) {
            device
                .write_blocks(
                    first,
                    &data(round.wrapping_add(first as u8), chunk as usize),
                )
                .unwrap();
        }
    }
    device.sync().unwrap();
    for first in (0..blocks - chunk).step_by(chunk as usize) {
        let mut out = vec![0u8; chunk as usize * BLOCK];
        inner
            .read_blocks(first, &mut out, ReadMode::Strict)
            .unwrap();
        assert_eq!(
            out,
            data(39u8.wrapping_add(first as u8), chunk as usize),
            "blocks at {first}"
        );
    }
}

#[test]
fn a_write_past_the_device_length_fails_at_once() {
    let inner = inner_device();
    inner.set_len(4 * BLOCK as u64).unwrap();
    let device = WriteBehindDevice::new(Arc::clone(&inner)).unwrap();
    device.write_blocks(0, &data(1, 4)).unwrap();
    let err = device.write_blocks(2, &data(2, 4)).unwrap_err();
    assert!(matches!(err, BlockError::OutOfRange { .. }), "{err}");
    let mut out = vec![0u8; 4 * BLOCK];
    device.read_blocks(0, &mut out, ReadMode::Strict).unwrap();
    assert_eq!(out, data(1, 4), "the failed write changed nothing");
}

#[test]
fn a_failed_background_write_is_reported_by_every_later_call() {
    let storage = Arc::new(FailingStorage::new(MemStorage::default(), u64::MAX));
    let unlocked = create_on(
        storage.clone(),
        Path::new("test.sec"),
        &password(PASSWORD),
        &options(CipherSuite::Aes256Gcm),
        &mut |_, _| {},
    )
    .unwrap();
    let inner: Arc<dyn BlockDevice> = Arc::new(unlocked.open_device(false).unwrap());
    inner.set_len(32 * BLOCK as u64).unwrap();
    inner.sync().unwrap();
    let device = WriteBehindDevice::new(Arc::clone(&inner)).unwrap();
    storage.reset(0);
    device.write_blocks(1, &data(3, 2)).unwrap();
    let err = device.sync().unwrap_err();
    assert!(err.to_string().contains("earlier write"), "{err}");
    // The storage works again, but the lost write must not be forgotten.
    storage.reset(u64::MAX);
    assert!(device.write_blocks(1, &data(3, 2)).is_err());
    let mut out = vec![0u8; BLOCK];
    assert!(device.read_blocks(5, &mut out, ReadMode::Strict).is_err());
    assert!(device.sync().is_err());
}
