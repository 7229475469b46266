//! File-system API benchmark (issue #4): the same work through [`secvol_fs::Fs`] on a real
//! container file and through `std::fs` on a plain directory of the same disk.
//!
//! Workloads (sizes are options, defaults in brackets):
//! * `seq`: write one file of `--seq-mib` [1024] MiB in `--write-kib` [1024] KiB writes, then
//!   `sync`; close, drop the OS caches, reopen and read it back in the same size of reads
//!   (contents checked).
//! * `files`: create `--files` [50000] files of `--file-size` [4096] bytes spread over
//!   `--dirs` [100] directories, then `sync`; close, drop the caches, reopen, list the tree
//!   (readdir + getattr of every entry), then read every file.
//! * `random`: write a file of `--random-mib` [256] MiB (not timed), then `--random-ops`
//!   [16384] 4 KiB overwrites at random 4 KiB-aligned offsets, then `sync`; close, drop the
//!   caches, reopen and do as many random 4 KiB reads.
//!
//! secvol runs on a fresh container per workload (`secvol_core::create`, sparse, cheap
//! scrypt) with `FsOptions::default()` (the options of a mount: 5 s commit interval, 256 MiB
//! cache). The plain side uses `std::fs` with a final `sync_all` (`sync -f` for the file tree).
//! Caches are dropped with `/proc/sys/vm/drop_caches` (needs root; otherwise the reads are
//! warm and the output says so). Runs are interleaved (secvol, plain, secvol, plain, …) and
//! the median is reported. Throughput is in MB/s = 10^6 bytes/s.
//!
//! Run: `bench/fs-api.sh` (release build), or
//! `cargo run --release -p secvol-fs --example fs_bench -- --dir /var/tmp --runs 3`.
//! `--quick` shrinks everything for a smoke test; `--only seq,files` picks workloads;
//! `--no-plain` skips the plain directory.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use secvol_core::{
    Access, CipherSuite, Container, CreateOptions, DeviceMode, ScryptParams, SecretString,
};
use secvol_fs::{Ctx, FileKind, Fs, FsOptions, Ino, OpenFlags, ROOT_INO};

type Res<T> = Result<T, Box<dyn Error>>;

const PASSWORD: &str = "benchmark password, not a secret";
const OWNER: Ctx = Ctx {
    uid: 1000,
    gid: 1000,
};

// ---- configuration ----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Config {
    dir: PathBuf,
    runs: usize,
    seq_bytes: u64,
    io_size: usize,
    files: usize,
    file_size: usize,
    dirs: usize,
    random_bytes: u64,
    random_ops: usize,
    suite: CipherSuite,
    scrypt_log_n: u8,
    workloads: Vec<String>,
    plain: bool,
    drop_caches: bool,
    /// `FsOptions::dirty_limit` / `cache_size` overrides (for tuning experiments).
    dirty_limit: Option<u64>,
    cache_size: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dir: std::env::temp_dir(),
            runs: 1,
            seq_bytes: 1 << 30,
            io_size: 1 << 20,
            files: 50_000,
            file_size: 4096,
            dirs: 100,
            random_bytes: 256 << 20,
            random_ops: 16_384,
            suite: CipherSuite::Aes256Gcm,
            scrypt_log_n: 12,
            workloads: vec!["seq".into(), "files".into(), "random".into()],
            plain: true,
            drop_caches: true,
            dirty_limit: None,
            cache_size: None,
        }
    }
}

const USAGE: &str = "usage: fs_bench [--dir DIR] [--runs N] [--seq-mib N] [--write-kib N] \
[--files N] [--file-size BYTES] [--dirs N] [--random-mib N] [--random-ops N] \
[--cipher aes-256-gcm|xchacha20-poly1305] [--scrypt-log-n N] [--only seq,files,random] \
[--no-plain] [--no-drop-caches] [--quick] [--dirty-mib N] [--cache-mib N]";

fn parse_args() -> Res<Config> {
    let mut cfg = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> Res<String> {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}").into())
        };
        match arg.as_str() {
            "--dir" => cfg.dir = PathBuf::from(value()?),
            "--runs" => cfg.runs = value()?.parse()?,
            "--seq-mib" => cfg.seq_bytes = value()?.parse::<u64>()? << 20,
            "--write-kib" => cfg.io_size = value()?.parse::<usize>()? << 10,
            "--files" => cfg.files = value()?.parse()?,
            "--file-size" => cfg.file_size = value()?.parse()?,
            "--dirs" => cfg.dirs = value()?.parse()?,
            "--random-mib" => cfg.random_bytes = value()?.parse::<u64>()? << 20,
            "--random-ops" => cfg.random_ops = value()?.parse()?,
            "--scrypt-log-n" => cfg.scrypt_log_n = value()?.parse()?,
            "--cipher" => {
                cfg.suite = match value()?.as_str() {
                    "aes-256-gcm" | "aes" => CipherSuite::Aes256Gcm,
                    "xchacha20-poly1305" | "xchacha" => CipherSuite::XChaCha20Poly1305,
                    other => return Err(format!("unknown cipher {other}").into()),
                }
            }
            "--only" => cfg.workloads = value()?.split(',').map(str::to_owned).collect(),
            "--no-plain" => cfg.plain = false,
            "--dirty-mib" => cfg.dirty_limit = Some(value()?.parse::<u64>()? << 20),
            "--cache-mib" => cfg.cache_size = Some(value()?.parse::<usize>()? << 20),
            "--no-drop-caches" => cfg.drop_caches = false,
            "--quick" => {
                cfg.seq_bytes = 64 << 20;
                cfg.files = 2000;
                cfg.dirs = 20;
                cfg.random_bytes = 32 << 20;
                cfg.random_ops = 2000;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    if cfg.runs == 0 || cfg.io_size == 0 || cfg.dirs == 0 || cfg.file_size == 0 {
        return Err("--runs, --write-kib, --dirs and --file-size must be positive".into());
    }
    if cfg.random_bytes < 4096 || !cfg.seq_bytes.is_multiple_of(cfg.io_size as u64) {
        return Err("--seq-mib must be a multiple of --write-kib; --random-mib ≥ 1".into());
    }
    for w in &cfg.workloads {
        if !["seq", "files", "random"].contains(&w.as_str()) {
            return Err(format!("unknown workload {w}").into());
        }
    }
    Ok(cfg)
}

// ---- measuring --------------------------------------------------------------------------

/// Process CPU time (user + system, all threads) in seconds, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ")".
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        // USER_HZ is 100 on every Linux configuration we run on.
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Bytes this process passed to write(2)/pwrite(2) so far (`wchar` of /proc/self/io).
fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("wchar: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    secs: f64,
    cpu: f64,
    host_bytes: u64,
}

fn measure<T>(f: impl FnOnce() -> Res<T>) -> Res<(T, Sample)> {
    let cpu0 = cpu_seconds();
    let w0 = bytes_written();
    let t0 = Instant::now();
    let value = f()?;
    let secs = t0.elapsed().as_secs_f64();
    Ok((
        value,
        Sample {
            secs,
            cpu: cpu_seconds() - cpu0,
            host_bytes: bytes_written().saturating_sub(w0),
        },
    ))
}

/// Write back dirty pages and drop the page cache, so that the next reads come from the
/// disk. Returns false if that is not allowed here.
fn drop_caches(cfg: &Config) -> bool {
    if !cfg.drop_caches {
        return false;
    }
    let _ = Command::new("sync").status();
    OpenOptions::new()
        .write(true)
        .open("/proc/sys/vm/drop_caches")
        .and_then(|mut f| f.write_all(b"3\n"))
        .is_ok()
}

/// `syncfs` of the file system holding `path`.
fn sync_fs(path: &Path) -> Res<()> {
    let status = Command::new("sync").arg("-f").arg(path).status()?;
    if !status.success() {
        return Err(format!("sync -f {} failed", path.display()).into());
    }
    Ok(())
}

/// A deterministic pseudo-random generator (xorshift64*), so both sides do the same work.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Incompressible data for write number `i`: a random buffer with `i` stamped at its start.
fn stamped(base: &[u8], i: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(base);
    let n = out.len().min(8);
    out[..n].copy_from_slice(&i.to_le_bytes()[..n]);
}

// ---- the two systems --------------------------------------------------------------------

/// A container file with a file system in it.
struct SecvolBox {
    path: PathBuf,
    options: FsOptions,
}

impl SecvolBox {
    fn create(cfg: &Config, dir: &Path, size: u64) -> Res<SecvolBox> {
        let path = dir.join("bench.sec");
        let unlocked = secvol_core::create(
            &path,
            &SecretString::from(PASSWORD),
            &CreateOptions {
                size,
                suite: cfg.suite,
                kdf: ScryptParams::with_log_n(cfg.scrypt_log_n),
                quick: true,
            },
            &mut |_, _| {},
        )?;
        Fs::format(unlocked.open_stack(DeviceMode::ReadWrite)?, OWNER)?;
        let mut options = FsOptions::default();
        if let Some(limit) = cfg.dirty_limit {
            options.dirty_limit = limit;
        }
        if let Some(size) = cfg.cache_size {
            options.cache_size = size;
        }
        Ok(SecvolBox { path, options })
    }

    /// Unlock and open the file system; returns it and the time `Fs::open` took (the KDF is
    /// not counted).
    fn open(&self) -> Res<(Fs, f64)> {
        let unlocked = Container::open(&self.path, Access::ReadWrite)?
            .unlock(&SecretString::from(PASSWORD))?;
        let t0 = Instant::now();
        let stack = unlocked.open_stack(DeviceMode::ReadWrite)?;
        let fs = Fs::open(stack, self.options.clone())?;
        Ok((fs, t0.elapsed().as_secs_f64()))
    }

    /// Record the container file's size on disk as figure `order`, then delete the file.
    fn report_allocated_and_remove(self, fig: &mut Figures, order: usize) -> Res<()> {
        let allocated = std::fs::metadata(&self.path).map_or(0, |m| m.blocks() * 512);
        fig.add(
            order,
            "  container file allocated on disk".into(),
            "MiB",
            "secvol",
            allocated as f64 / (1u64 << 20) as f64,
        );
        std::fs::remove_file(&self.path)?;
        Ok(())
    }
}

fn create_file(fs: &Fs, parent: Ino, name: &str) -> Res<(Ino, u64)> {
    let (attr, fh) = fs.create(parent, name.as_bytes(), 0o644, OpenFlags::READ_WRITE, OWNER)?;
    Ok((attr.ino, fh))
}

fn close_file(fs: &Fs, ino: Ino, fh: u64) -> Res<()> {
    fs.release(fh)?;
    fs.forget(ino, 1);
    Ok(())
}

// ---- results ----------------------------------------------------------------------------

/// One figure of one system: values of every run (the median is reported).
#[derive(Default)]
struct Figures {
    values: BTreeMap<(usize, &'static str), Vec<f64>>,
    labels: BTreeMap<usize, (String, &'static str)>,
}

impl Figures {
    fn add(
        &mut self,
        order: usize,
        label: String,
        unit: &'static str,
        system: &'static str,
        v: f64,
    ) {
        if !label.is_empty() {
            self.labels.insert(order, (label, unit));
        }
        self.values.entry((order, system)).or_default().push(v);
    }

    fn median(&self, order: usize, system: &'static str) -> Option<f64> {
        let mut v = self.values.get(&(order, system))?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    }
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v.is_nan() => "?".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

// ---- workloads --------------------------------------------------------------------------

const MB: f64 = 1e6;

fn seq_secvol(cfg: &Config, dir: &Path, fig: &mut Figures) -> Res<()> {
    let size = (cfg.seq_bytes * 3).max(4 << 30);
    let sv = SecvolBox::create(cfg, dir, size)?;
    let mut rng = Rng(0x5ec0_1001);
    let mut base = vec![0u8; cfg.io_size];
    rng.fill(&mut base);
    let mut buf = Vec::with_capacity(cfg.io_size);
    let writes = cfg.seq_bytes / cfg.io_size as u64;

    let (fs, _) = sv.open()?;
    let ((), w) = measure(|| {
        let (ino, fh) = create_file(&fs, ROOT_INO, "seq.bin")?;
        for i in 0..writes {
            stamped(&base, i, &mut buf);
            fs.write(fh, i * cfg.io_size as u64, &buf)?;
        }
        close_file(&fs, ino, fh)?;
        fs.sync()?;
        Ok(())
    })?;
    fs.close()?;
    drop(fs);
    let gib = cfg.seq_bytes as f64 / (1u64 << 30) as f64;
    fig.add(
        10,
        format!(
            "seq write {} MiB ({} KiB writes) + sync",
            cfg.seq_bytes >> 20,
            cfg.io_size >> 10
        ),
        "MB/s",
        "secvol",
        cfg.seq_bytes as f64 / MB / w.secs,
    );
    fig.add(
        11,
        "  CPU seconds per GiB written".into(),
        "s",
        "secvol",
        w.cpu / gib,
    );
    fig.add(
        12,
        "  host bytes written / bytes written".into(),
        "×",
        "secvol",
        w.host_bytes as f64 / cfg.seq_bytes as f64,
    );

    let cold = drop_caches(cfg);
    let (fs, open_secs) = sv.open()?;
    let ((), r) = measure(|| {
        let attr = fs.resolve(b"/seq.bin")?;
        let fh = fs.open_file(attr.ino, OpenFlags::READ)?;
        for i in 0..writes {
            let data = fs.read(fh, i * cfg.io_size as u64, cfg.io_size as u32)?;
            stamped(&base, i, &mut buf);
            if data != buf {
                return Err(format!("secvol: wrong data read back at write {i}").into());
            }
        }
        fs.release(fh)?;
        Ok(())
    })?;
    fs.close()?;
    fig.add(
        13,
        format!(
            "seq read {} MiB, {}",
            cfg.seq_bytes >> 20,
            if cold { "cold" } else { "WARM cache" }
        ),
        "MB/s",
        "secvol",
        cfg.seq_bytes as f64 / MB / r.secs,
    );
    fig.add(
        14,
        "  CPU seconds per GiB read".into(),
        "s",
        "secvol",
        r.cpu / gib,
    );
    fig.add(
        15,
        "  open after close (Fs::open, KDF excluded)".into(),
        "ms",
        "secvol",
        open_secs * 1e3,
    );
    sv.report_allocated_and_remove(fig, 16)
}

fn seq_plain(cfg: &Config, dir: &Path, fig: &mut Figures) -> Res<()> {
    let path = dir.join("seq.bin");
    let mut rng = Rng(0x5ec0_1001);
    let mut base = vec![0u8; cfg.io_size];
    rng.fill(&mut base);
    let mut buf = Vec::with_capacity(cfg.io_size);
    let writes = cfg.seq_bytes / cfg.io_size as u64;
    let ((), w) = measure(|| {
        let mut f = File::create(&path)?;
        for i in 0..writes {
            stamped(&base, i, &mut buf);
            f.write_all(&buf)?;
        }
        f.sync_all()?;
        Ok(())
    })?;
    let gib = cfg.seq_bytes as f64 / (1u64 << 30) as f64;
    fig.add(
        10,
        String::new(),
        "MB/s",
        "plain",
        cfg.seq_bytes as f64 / MB / w.secs,
    );
    fig.add(11, String::new(), "s", "plain", w.cpu / gib);
    let cold = drop_caches(cfg);
    let ((), r) = measure(|| {
        let mut f = File::open(&path)?;
        let mut data = vec![0u8; cfg.io_size];
        for i in 0..writes {
            f.read_exact(&mut data)?;
            stamped(&base, i, &mut buf);
            if data != buf {
                return Err(format!("plain: wrong data read back at write {i}").into());
            }
        }
        Ok(())
    })?;
    let _ = cold;
    fig.add(
        13,
        String::new(),
        "MB/s",
        "plain",
        cfg.seq_bytes as f64 / MB / r.secs,
    );
    fig.add(14, String::new(), "s", "plain", r.cpu / gib);
    std::fs::remove_file(&path)?;
    Ok(())
}

fn file_name(i: usize) -> String {
    format!("file{i:06}.dat")
}

fn files_secvol(cfg: &Config, dir: &Path, fig: &mut Figures) -> Res<()> {
    let data_bytes = (cfg.files * cfg.file_size.div_ceil(4096) * 8192) as u64;
    let sv = SecvolBox::create(cfg, dir, (data_bytes * 4).max(4 << 30))?;
    let mut rng = Rng(0xf11e5);
    let mut base = vec![0u8; cfg.file_size];
    rng.fill(&mut base);
    let mut buf = Vec::with_capacity(cfg.file_size);

    let (fs, _) = sv.open()?;
    let ((), w) = measure(|| {
        let mut dirs = Vec::with_capacity(cfg.dirs);
        for d in 0..cfg.dirs {
            let attr = fs.mkdir(ROOT_INO, format!("dir{d:04}").as_bytes(), 0o755, OWNER)?;
            dirs.push(attr.ino);
        }
        for i in 0..cfg.files {
            let (ino, fh) = create_file(&fs, dirs[i % cfg.dirs], &file_name(i))?;
            stamped(&base, i as u64, &mut buf);
            fs.write(fh, 0, &buf)?;
            close_file(&fs, ino, fh)?;
        }
        for &d in &dirs {
            fs.forget(d, 1);
        }
        fs.sync()?;
        Ok(())
    })?;
    fs.close()?;
    drop(fs);
    let n = cfg.files as f64;
    fig.add(
        20,
        format!(
            "create {} files of {} B in {} dirs + sync",
            cfg.files, cfg.file_size, cfg.dirs
        ),
        "files/s",
        "secvol",
        n / w.secs,
    );
    fig.add(
        21,
        "  host bytes written / bytes written".into(),
        "×",
        "secvol",
        w.host_bytes as f64 / (n * cfg.file_size as f64),
    );

    let cold = drop_caches(cfg);
    let (fs, _) = sv.open()?;
    let (found, l) = measure(|| {
        // Walk the tree as `ls -lR` does: readdir, then the attributes of every entry.
        let mut stack = vec![ROOT_INO];
        let mut found = Vec::new();
        while let Some(d) = stack.pop() {
            let dh = fs.opendir(d)?;
            let entries = fs.readdir(dh, 0, usize::MAX)?;
            fs.releasedir(dh)?;
            for e in entries {
                if e.name == b"." || e.name == b".." {
                    continue;
                }
                let attr = fs.getattr(e.ino)?;
                if attr.kind == FileKind::Directory {
                    stack.push(e.ino);
                } else {
                    found.push((e.ino, e.name, attr.size));
                }
            }
        }
        Ok(found)
    })?;
    if found.len() != cfg.files {
        return Err(format!(
            "secvol: listed {} files, created {}",
            found.len(),
            cfg.files
        )
        .into());
    }
    let entries = n + cfg.dirs as f64;
    fig.add(
        22,
        format!(
            "list the tree (readdir + getattr), {}",
            if cold { "cold" } else { "WARM cache" }
        ),
        "entries/s",
        "secvol",
        entries / l.secs,
    );
    let ((), r) = measure(|| {
        for (ino, name, size) in &found {
            let fh = fs.open_file(*ino, OpenFlags::READ)?;
            let data = fs.read(fh, 0, *size as u32)?;
            fs.release(fh)?;
            let i: usize = std::str::from_utf8(&name[4..10])?.parse()?;
            stamped(&base, i as u64, &mut buf);
            if data != buf {
                return Err(format!("secvol: wrong contents in file {i}").into());
            }
        }
        Ok(())
    })?;
    fs.close()?;
    fig.add(
        23,
        "read every file (after the listing)".into(),
        "files/s",
        "secvol",
        n / r.secs,
    );
    sv.report_allocated_and_remove(fig, 24)
}

fn files_plain(cfg: &Config, dir: &Path, fig: &mut Figures) -> Res<()> {
    let root = dir.join("tree");
    std::fs::create_dir(&root)?;
    let mut rng = Rng(0xf11e5);
    let mut base = vec![0u8; cfg.file_size];
    rng.fill(&mut base);
    let mut buf = Vec::with_capacity(cfg.file_size);
    let ((), w) = measure(|| {
        for d in 0..cfg.dirs {
            std::fs::create_dir(root.join(format!("dir{d:04}")))?;
        }
        for i in 0..cfg.files {
            stamped(&base, i as u64, &mut buf);
            let path = root
                .join(format!("dir{:04}", i % cfg.dirs))
                .join(file_name(i));
            File::create(path)?.write_all(&buf)?;
        }
        sync_fs(&root)?;
        Ok(())
    })?;
    let n = cfg.files as f64;
    fig.add(20, String::new(), "files/s", "plain", n / w.secs);
    drop_caches(cfg);
    let (found, l) = measure(|| {
        let mut stack = vec![root.clone()];
        let mut found = Vec::new();
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d)? {
                let e = e?;
                let meta = std::fs::symlink_metadata(e.path())?;
                if meta.is_dir() {
                    stack.push(e.path());
                } else {
                    found.push(e.path());
                }
            }
        }
        Ok(found)
    })?;
    if found.len() != cfg.files {
        return Err(format!("plain: listed {} files, created {}", found.len(), cfg.files).into());
    }
    fig.add(
        22,
        String::new(),
        "entries/s",
        "plain",
        (n + cfg.dirs as f64) / l.secs,
    );
    let ((), r) = measure(|| {
        let mut data = Vec::with_capacity(cfg.file_size);
        for path in &found {
            data.clear();
            File::open(path)?.read_to_end(&mut data)?;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let i: usize = name[4..10].parse()?;
            stamped(&base, i as u64, &mut buf);
            if data != buf {
                return Err(format!("plain: wrong contents in file {i}").into());
            }
        }
        Ok(())
    })?;
    fig.add(23, String::new(), "files/s", "plain", n / r.secs);
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// The random offsets (4 KiB-aligned) of a run, the same on both sides.
fn random_offsets(cfg: &Config, seed: u64) -> Vec<u64> {
    let blocks = cfg.random_bytes / 4096;
    let mut rng = Rng(seed);
    (0..cfg.random_ops)
        .map(|_| (rng.next() % blocks) * 4096)
        .collect()
}

fn random_secvol(cfg: &Config, dir: &Path, fig: &mut Figures) -> Res<()> {
    let sv = SecvolBox::create(cfg, dir, (cfg.random_bytes * 8).max(4 << 30))?;
    let mut rng = Rng(0x4a4d);
    let mut block = vec![0u8; 1 << 20];
    rng.fill(&mut block);
    let (fs, _) = sv.open()?;
    let (ino, fh) = create_file(&fs, ROOT_INO, "random.bin")?;
    let mut offset = 0;
    while offset < cfg.random_bytes {
        let n = (cfg.random_bytes - offset).min(block.len() as u64) as usize;
        fs.write(fh, offset, &block[..n])?;
        offset += n as u64;
    }
    fs.sync()?;
    let offsets = random_offsets(cfg, 0x0ff5e7);
    let mut page = vec![0u8; 4096];
    let ((), w) = measure(|| {
        for (i, &off) in offsets.iter().enumerate() {
            page[..8].copy_from_slice(&(i as u64).to_le_bytes());
            fs.write(fh, off, &page)?;
        }
        fs.sync()?;
        Ok(())
    })?;
    close_file(&fs, ino, fh)?;
    fs.close()?;
    drop(fs);
    let ops = cfg.random_ops as f64;
    fig.add(
        30,
        format!(
            "random 4 KiB overwrites in a {} MiB file ({} ops + sync)",
            cfg.random_bytes >> 20,
            cfg.random_ops
        ),
        "IOPS",
        "secvol",
        ops / w.secs,
    );
    fig.add(
        31,
        "  host bytes written / bytes written".into(),
        "×",
        "secvol",
        w.host_bytes as f64 / (ops * 4096.0),
    );
    let cold = drop_caches(cfg);
    let (fs, _) = sv.open()?;
    let read_offsets = random_offsets(cfg, 0x5eed);
    let ((), r) = measure(|| {
        let attr = fs.resolve(b"/random.bin")?;
        let fh = fs.open_file(attr.ino, OpenFlags::READ)?;
        for &off in &read_offsets {
            let data = fs.read(fh, off, 4096)?;
            if data.len() != 4096 {
                return Err("secvol: short random read".into());
            }
        }
        fs.release(fh)?;
        Ok(())
    })?;
    fs.close()?;
    fig.add(
        32,
        format!(
            "random 4 KiB reads ({} ops), {}",
            cfg.random_ops,
            if cold { "cold" } else { "WARM cache" }
        ),
        "IOPS",
        "secvol",
        ops / r.secs,
    );
    std::fs::remove_file(&sv.path)?;
    Ok(())
}

fn random_plain(cfg: &Config, dir: &Path, fig: &mut Figures) -> Res<()> {
    let path = dir.join("random.bin");
    let mut rng = Rng(0x4a4d);
    let mut block = vec![0u8; 1 << 20];
    rng.fill(&mut block);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let mut offset = 0;
    while offset < cfg.random_bytes {
        let n = (cfg.random_bytes - offset).min(block.len() as u64) as usize;
        f.write_all_at(&block[..n], offset)?;
        offset += n as u64;
    }
    f.sync_all()?;
    let offsets = random_offsets(cfg, 0x0ff5e7);
    let mut page = vec![0u8; 4096];
    let ((), w) = measure(|| {
        for (i, &off) in offsets.iter().enumerate() {
            page[..8].copy_from_slice(&(i as u64).to_le_bytes());
            f.write_all_at(&page, off)?;
        }
        f.sync_all()?;
        Ok(())
    })?;
    drop(f);
    let ops = cfg.random_ops as f64;
    fig.add(30, String::new(), "IOPS", "plain", ops / w.secs);
    drop_caches(cfg);
    let read_offsets = random_offsets(cfg, 0x5eed);
    let ((), r) = measure(|| {
        let f = File::open(&path)?;
        for &off in &read_offsets {
            f.read_exact_at(&mut page, off)?;
        }
        Ok(())
    })?;
    fig.add(32, String::new(), "IOPS", "plain", ops / r.secs);
    std::fs::remove_file(&path)?;
    Ok(())
}

// ---- main -------------------------------------------------------------------------------

fn main() -> Res<()> {
    let cfg = parse_args()?;
    let work = tempfile::Builder::new()
        .prefix("secvol-fs-bench-")
        .tempdir_in(&cfg.dir)?;
    let mut fig = Figures::default();
    type Workload = fn(&Config, &Path, &mut Figures) -> Res<()>;
    let table: [(&str, Workload, Workload); 3] = [
        ("seq", seq_secvol, seq_plain),
        ("files", files_secvol, files_plain),
        ("random", random_secvol, random_plain),
    ];
    for run in 1..=cfg.runs {
        for (name, secvol, plain) in &table {
            if !cfg.workloads.iter().any(|w| w == name) {
                continue;
            }
            eprintln!("run {run}/{}: {name} (secvol)", cfg.runs);
            let t = Instant::now();
            secvol(&cfg, work.path(), &mut fig)?;
            eprintln!("  {:.1} s", t.elapsed().as_secs_f64());
            if cfg.plain {
                eprintln!("run {run}/{}: {name} (plain directory)", cfg.runs);
                let t = Instant::now();
                plain(&cfg, work.path(), &mut fig)?;
                eprintln!("  {:.1} s", t.elapsed().as_secs_f64());
            }
        }
    }

    println!(
        "secvol-fs API benchmark: {} run(s), median; cipher {:?}; container and plain files in {}",
        cfg.runs,
        cfg.suite,
        cfg.dir.display()
    );
    println!();
    println!("| workload | unit | secvol | plain dir | secvol / plain |");
    println!("|---|---|---:|---:|---:|");
    for (order, (label, unit)) in &fig.labels {
        let s = fig.median(*order, "secvol");
        let p = fig.median(*order, "plain");
        let ratio = match (s, p) {
            (Some(s), Some(p)) if !matches!(*unit, "ms" | "MiB" | "×" | "s") => {
                format!("{:.0}%", 100.0 * s / p)
            }
            _ => "".into(),
        };
        println!("| {label} | {unit} | {} | {} | {ratio} |", fmt(s), fmt(p));
    }
    Ok(())
}
