#!/usr/bin/env bash
# Cipher throughput of secvol beside `openssl speed` on the same machine (issue #3).
#
# Builds and runs the `cipher_throughput` bench of secvol-core in release mode (one thread,
# 4 KiB blocks, both suites), runs `openssl speed -evp` for AES-256-GCM and
# ChaCha20-Poly1305 on 4096-byte buffers, and prints the machine facts and one markdown
# table (MB/s = 10^6 bytes per second).
#
# Usage: bench/crypto.sh
# Environment: SECVOL_BENCH_SECS (minimum seconds per bench round, default 1),
#              OPENSSL_SECONDS (seconds per openssl run, default 3),
#              OPENSSL_RUNS (openssl runs per cipher, best kept, default 3).
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."

openssl_seconds="${OPENSSL_SECONDS:-3}"
openssl_runs="${OPENSSL_RUNS:-3}"

for tool in cargo rustc openssl awk; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "crypto.sh: '$tool' is required but not on PATH" >&2
        exit 1
    fi
done

# --- machine facts -----------------------------------------------------------------------
cpu_model="unknown"
cpu_flags=""
if [[ -r /proc/cpuinfo ]]; then
    cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    cpu_flags=" $(awk -F': *' '/^(flags|Features)/ { print $2; exit }' /proc/cpuinfo) "
    [[ -n "$cpu_model" ]] || cpu_model="unknown"
fi
has_flag() {
    if [[ "$cpu_flags" == *" $1 "* ]]; then echo yes; else echo no; fi
}

# --- secvol ------------------------------------------------------------------------------
echo "Building and running the secvol bench (release)..." >&2
# Compiler progress goes to stderr; the bench prints its table to stdout.
bench_out="$(cargo bench -p secvol-core --bench cipher_throughput)"

# Rows look like: | aes-256-gcm | seal | 1690 |
secvol_figure() {
    local suite="$1" op="$2" value
    value="$(awk -F'|' -v s="$suite" -v o="$op" '
        { gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $4) }
        $2 == s && $3 == o { print $4; exit }' <<<"$bench_out")"
    if [[ -z "$value" ]]; then
        echo "crypto.sh: no '$suite $op' figure in the bench output:" >&2
        echo "$bench_out" >&2
        exit 1
    fi
    echo "$value"
}

# --- openssl -----------------------------------------------------------------------------
# The last line is e.g. "AES-256-GCM    2577690.89k": thousands of bytes per second. Run
# OPENSSL_RUNS times and keep the best, as the secvol bench keeps the best of its rounds.
openssl_mbps() {
    local cipher="$1" run last mbps best=0
    for ((run = 1; run <= openssl_runs; run++)); do
        echo "Running openssl speed -evp $cipher (${openssl_seconds} s, run $run of $openssl_runs)..." >&2
        last="$(openssl speed -evp "$cipher" -bytes 4096 -seconds "$openssl_seconds" |
            awk 'NF { line = $0 } END { print line }')"
        mbps="$(awk -v line="$last" 'BEGIN {
            n = split(line, f, " "); v = f[n]; sub(/k$/, "", v)
            if (v !~ /^[0-9.]+$/) { exit 1 }
            printf "%.0f\n", v / 1000
        }')" || {
            echo "crypto.sh: cannot parse openssl speed output: '$last'" >&2
            exit 1
        }
        if ((mbps > best)); then best="$mbps"; fi
    done
    echo "$best"
}

openssl_aes="$(openssl_mbps aes-256-gcm)"
openssl_chacha="$(openssl_mbps chacha20-poly1305)"

# --- report ------------------------------------------------------------------------------
row() {
    local label="$1" suite="$2" reference="$3" seal open write read ratio
    seal="$(secvol_figure "$suite" seal)"
    open="$(secvol_figure "$suite" open)"
    write="$(secvol_figure "$suite" "device write")"
    read="$(secvol_figure "$suite" "device read")"
    ratio="$(awk -v a="$seal" -v b="$reference" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
    echo "| $label | $seal | $open | $write | $read | $reference | $ratio |"
}

echo "## secvol cipher throughput vs openssl"
echo
echo "- CPU: $cpu_model ($(nproc 2>/dev/null || echo '?') logical CPUs)"
echo "- AES-NI: $(has_flag aes), PCLMULQDQ: $(has_flag pclmulqdq)" \
    "(also AVX2: $(has_flag avx2), VAES: $(has_flag vaes)," \
    "VPCLMULQDQ: $(has_flag vpclmulqdq), AVX-512F: $(has_flag avx512f))"
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- rustc: $(rustc --version)"
echo "- openssl: $(openssl version)"
echo "- secvol bench: $(head -n 1 <<<"$bench_out")"
echo "- openssl: \`openssl speed -evp <cipher> -bytes 4096 -seconds $openssl_seconds\`, best of $openssl_runs runs"
echo
echo "| suite | secvol seal MB/s | secvol open MB/s | device write MB/s | device read MB/s | openssl MB/s | seal / openssl |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row "AES-256-GCM (16-byte nonce)" aes-256-gcm "$openssl_aes"
row "XChaCha20-Poly1305 [^xchacha]" xchacha20-poly1305 "$openssl_chacha"
echo
echo "[^xchacha]: openssl has no XChaCha20-Poly1305; its figure is ChaCha20-Poly1305" \
    "(96-bit nonce), whose per-block work is the same apart from one HChaCha20 call per message."
echo
echo "seal/open: \`Aead::seal\`/\`Aead::open\` on one 4 KiB block with a fresh random nonce and" \
    "35 bytes of associated data. device: \`write_blocks\`/\`read_blocks\` of 1 MiB through" \
    "\`EncryptedDevice\` on in-memory storage (encryption + layout + copies, no disk)." \
    "openssl encrypts 4 KiB buffers in place (AES-GCM with a 96-bit IV)."
