//! Golden containers made once by format version 1 and committed under tests/fixtures/.
//! Every future version of secvol must still open them and read the same bytes.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::pattern;
use secvol_core::storage::Storage;
use secvol_core::testing::MemStorage;
use secvol_core::{
    Access, BlockDevice, CipherSuite, Container, CreateOptions, ReadMode, ScryptParams,
    SecretString,
};

const GOLDEN_PASSWORD: &str = "golden fixture password v1";
const GOLDEN_BLOCKS: u64 = 8;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

fn fixtures() -> [(&'static str, CipherSuite); 2] {
    [
        ("golden-v1-aes-256-gcm.sec", CipherSuite::Aes256Gcm),
        (
            "golden-v1-xchacha20-poly1305.sec",
            CipherSuite::XChaCha20Poly1305,
        ),
    ]
}

#[test]
fn golden_v1_containers_still_open_and_read_the_same_bytes() {
    for (name, suite) in fixtures() {
        let path = fixture(name);
        let container =
            Container::open(&path, Access::HeaderOnly).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(container.header().suite, suite);
        assert_eq!(container.header().geometry.container_len, 1 << 20);
        let unlocked = container
            .unlock(&SecretString::from(GOLDEN_PASSWORD))
            .unwrap();
        let device = unlocked.open_device(true).unwrap();
        assert_eq!(device.len(), GOLDEN_BLOCKS * 4096);
        for index in 0..GOLDEN_BLOCKS {
            let mut buf = vec![0u8; 4096];
            device
                .read_blocks(index, &mut buf, ReadMode::Strict)
                .unwrap();
            assert!(buf == pattern(index, 0), "{name}: block {index} differs");
        }
        assert!(device.verify(&mut |_, _| {}).unwrap().is_clean());
    }
}

/// Regenerates the fixtures. Run once per format version, never to "fix" a failing test:
/// `cargo test -p secvol-core --test golden -- --ignored make_golden_fixtures`
#[test]
#[ignore = "writes the committed fixtures; run only when introducing a new format version"]
fn make_golden_fixtures() {
    for (name, suite) in fixtures() {
        let storage = Arc::new(MemStorage::default());
        let options = CreateOptions {
            size: 1 << 20,
            suite,
            kdf: ScryptParams::with_log_n(10),
            quick: true,
        };
        let unlocked = secvol_core::create_on(
            storage.clone(),
            &fixture(name),
            &SecretString::from(GOLDEN_PASSWORD),
            &options,
            &mut |_, _| {},
        )
        .unwrap();
        let device = unlocked.open_device(false).unwrap();
        common::fill_blocks(&device, GOLDEN_BLOCKS);
        assert!(storage.len().unwrap() == 1 << 20);
        std::fs::write(fixture(name), storage.snapshot()).unwrap();
    }
}
