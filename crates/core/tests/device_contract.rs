//! The `BlockDevice` contract, run against every implementation and every stack: the
//! encrypted device (both ciphers), each decorator on its own (read-ahead, write-behind,
//! overlay, read recorder), and the three stacks `DeviceStack` builds.
//!
//! What every device promises the layer above (the storage engine):
//! * a new length reads as zeros, also after shrinking and growing again;
//! * a block reads back exactly what was last written to it, across group boundaries and
//!   block 0, whether written from a borrowed or an owned buffer;
//! * reads past the length fail; writes past the capacity fail with "no space";
//! * unaligned buffers are refused;
//! * `sync` succeeds and changes nothing that reads see.

mod common;

use std::sync::Arc;

use common::*;
use secvol_core::{
    BlockDevice, BlockError, CipherSuite, DeviceMode, DeviceStack, OverlayDevice, ReadAheadDevice,
    ReadMode, ReadRecorder, WriteBehindDevice,
};

const BLOCK: usize = 4096;

/// A fresh encrypted device of a 2 MiB container (about 480 blocks of capacity).
fn encrypted(suite: CipherSuite) -> Arc<dyn BlockDevice> {
    let (_storage, unlocked) = new_container(suite);
    Arc::new(unlocked.open_device(false).unwrap())
}

fn read(device: &dyn BlockDevice, first: u64, count: u64) -> Vec<u8> {
    let mut out = vec![0u8; count as usize * BLOCK];
    device
        .read_blocks(first, &mut out, ReadMode::Strict)
        .unwrap();
    out
}

fn blocks(first: u64, count: u64, version: u8) -> Vec<u8> {
    (first..first + count)
        .flat_map(|index| pattern(index, version))
        .collect()
}

/// Every implementation under test, by name.
fn implementations() -> Vec<(&'static str, Arc<dyn BlockDevice>)> {
    let stack = |mode| {
        DeviceStack::build(encrypted(CipherSuite::Aes256Gcm), mode)
            .unwrap()
            .device()
            .clone()
    };
    vec![
        ("encrypted, AES-256-GCM", encrypted(CipherSuite::Aes256Gcm)),
        (
            "encrypted, XChaCha20-Poly1305",
            encrypted(CipherSuite::XChaCha20Poly1305),
        ),
        (
            "read-ahead",
            Arc::new(ReadAheadDevice::new(encrypted(CipherSuite::Aes256Gcm)).unwrap()),
        ),
        (
            "write-behind",
            Arc::new(WriteBehindDevice::new(encrypted(CipherSuite::Aes256Gcm)).unwrap()),
        ),
        (
            "overlay",
            Arc::new(OverlayDevice::new(encrypted(CipherSuite::Aes256Gcm))),
        ),
        (
            "read recorder",
            Arc::new(ReadRecorder::new(encrypted(CipherSuite::Aes256Gcm))),
        ),
        ("read-write stack", stack(DeviceMode::ReadWrite)),
        // The read-only stacks take writes into memory (the storage engine may write while
        // it opens); the contract holds for what reads see.
        ("read-only stack", stack(DeviceMode::ReadOnly)),
        ("check stack", stack(DeviceMode::Check)),
    ]
}

fn for_each_device(check: impl Fn(&str, &dyn BlockDevice)) {
    for (name, device) in implementations() {
        check(name, &*device);
    }
}

#[test]
fn a_new_length_reads_as_zeros_also_after_shrinking_and_growing() {
    for_each_device(|name, device| {
        device.set_len(40 * BLOCK as u64).unwrap();
        assert_eq!(device.len(), 40 * BLOCK as u64, "{name}");
        assert!(read(device, 0, 40).iter().all(|&b| b == 0), "{name}");
        device.write_blocks(0, &blocks(0, 40, 1)).unwrap();
        device.set_len(10 * BLOCK as u64).unwrap();
        device.set_len(40 * BLOCK as u64).unwrap();
        assert_eq!(read(device, 0, 10), blocks(0, 10, 1), "{name}");
        assert!(
            read(device, 10, 30).iter().all(|&b| b == 0),
            "{name}: blocks that left and came back must read as zeros"
        );
    });
}

#[test]
fn blocks_read_back_what_was_last_written_across_groups_and_block_zero() {
    for_each_device(|name, device| {
        // 300 blocks span more than two groups of the AES layout (128 blocks per group).
        device.set_len(300 * BLOCK as u64).unwrap();
        device.write_blocks(0, &blocks(0, 300, 1)).unwrap();
        device.write_blocks_owned(120, blocks(120, 20, 2)).unwrap();
        device.write_blocks(0, &blocks(0, 1, 3)).unwrap();
        device.sync().unwrap();
        let mut expected = blocks(0, 1, 3);
        expected.extend(blocks(1, 119, 1));
        expected.extend(blocks(120, 20, 2));
        expected.extend(blocks(140, 160, 1));
        assert!(read(device, 0, 300) == expected, "{name}");
        // Reads of any alignment within the device agree with the whole.
        for (first, count) in [(127, 3), (128, 1), (255, 2), (299, 1)] {
            let start = first as usize * BLOCK;
            assert!(
                read(device, first, count) == expected[start..start + count as usize * BLOCK],
                "{name}: blocks {first}..+{count}"
            );
        }
    });
}

#[test]
fn reads_past_the_length_fail_and_writes_past_the_capacity_find_no_space() {
    for_each_device(|name, device| {
        device.set_len(8 * BLOCK as u64).unwrap();
        let mut buf = vec![0u8; 2 * BLOCK];
        assert!(
            matches!(
                device.read_blocks(7, &mut buf, ReadMode::Strict),
                Err(BlockError::OutOfRange { .. })
            ),
            "{name}"
        );
        let capacity = device.capacity_blocks();
        device.set_len((capacity + 8) * BLOCK as u64).unwrap();
        let result = device
            .write_blocks(capacity, &blocks(capacity, 1, 1))
            .and_then(|()| device.sync());
        assert!(
            matches!(result, Err(BlockError::NoSpace { .. })),
            "{name}: {result:?}"
        );
    });
}

#[test]
fn unaligned_buffers_are_refused() {
    for_each_device(|name, device| {
        device.set_len(8 * BLOCK as u64).unwrap();
        let mut buf = vec![0u8; BLOCK + 1];
        let read = device.read_blocks(1, &mut buf, ReadMode::Strict);
        assert!(
            matches!(read, Err(BlockError::Unaligned { .. })),
            "{name}: {read:?}"
        );
        let write = device.write_blocks(1, &buf).and_then(|()| device.sync());
        assert!(
            matches!(write, Err(BlockError::Unaligned { .. })),
            "{name}: {write:?}"
        );
    });
}
