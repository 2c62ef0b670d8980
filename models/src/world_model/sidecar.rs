//! The bytes of a checkpoint's optimiser-state sidecar (`FILE.adam`, see
//! [`super::checkpoint`]): a trainer's state beyond its weights, tied to one
//! exact checkpoint by that checkpoint's CRC.
//!
//! Layout (little-endian):
//!
//! ```text
//! 0   4  magic "UWAD"
//! 4   4  u32 sidecar version (2 to 4; OPTIMIZER_VERSION is written)
//! 8   4  u32 the checkpoint's payload CRC32 (its header's bytes 24..28)
//! 12  4  u32 number of parameter ids N
//! 16  8  u64 record length R
//! 24  4  u32 CRC32 of everything after the header
//! 28  8  u64 resume length T                (version 4 on)
//! ..  8N parameter ids, u64, in the model's visit order
//! ..  R  Adam's record (burnpack `ModuleOptimizer::into_bytes`, or the
//!        fused engine's moments)
//! ..  T  the resume state (version 4 on):
//!          32  the batch generator's seed
//!          8   u64 its stream
//!          16  u128 its word position
//!          8   u64 number of target-head values Q
//!          4Q  the target heads' values, f32, in visit order
//! ```
//!
//! Versions 2 and 3 (written with the checkpoint format of the same number)
//! have a 28-byte header and no resume state; they still load, as an
//! [`OptimizerState`] whose `resume` is `None`.

use super::record::{OptimizerState, ResumeState};

/// First four bytes of an optimiser-state sidecar file.
pub const OPTIMIZER_MAGIC: [u8; 4] = *b"UWAD";
/// The sidecar version this build writes: 4, the first with the target
/// heads and the batch generator's position.
pub const OPTIMIZER_VERSION: u32 = 4;
/// The oldest sidecar version this build reads.
const OLDEST_VERSION: u32 = 2;
/// The header's length before version 4 and from it.
const HEADER_LEN_V3: usize = 28;
const HEADER_LEN: usize = 36;
/// The resume state's bytes before its target values.
const RESUME_FIXED_LEN: usize = 32 + 8 + 16 + 8;

/// The sidecar bytes of `state` for the checkpoint whose payload CRC is
/// `checkpoint_crc`.
pub(super) fn encode(state: &OptimizerState, checkpoint_crc: u32) -> Vec<u8> {
    let resume = state.resume.as_ref().map(encode_resume).unwrap_or_default();
    let mut payload =
        Vec::with_capacity(state.param_ids.len() * 8 + state.record.len() + resume.len());
    for id in &state.param_ids {
        payload.extend_from_slice(&id.to_le_bytes());
    }
    payload.extend_from_slice(&state.record);
    payload.extend_from_slice(&resume);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&OPTIMIZER_MAGIC);
    out.extend_from_slice(&OPTIMIZER_VERSION.to_le_bytes());
    out.extend_from_slice(&checkpoint_crc.to_le_bytes());
    out.extend_from_slice(&(state.param_ids.len() as u32).to_le_bytes());
    out.extend_from_slice(&(state.record.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&(resume.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

fn encode_resume(r: &ResumeState) -> Vec<u8> {
    let mut out = Vec::with_capacity(RESUME_FIXED_LEN + 4 * r.target_q.len());
    out.extend_from_slice(&r.rng_seed);
    out.extend_from_slice(&r.rng_stream.to_le_bytes());
    out.extend_from_slice(&r.rng_word_pos.to_le_bytes());
    out.extend_from_slice(&(r.target_q.len() as u64).to_le_bytes());
    for v in &r.target_q {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The state in sidecar `bytes`, which must belong to the checkpoint whose
/// payload CRC is `checkpoint_crc`; an error (one line) naming what is
/// wrong: magic, version, staleness, lengths, checksum, a value not finite.
pub(super) fn decode(bytes: &[u8], checkpoint_crc: u32) -> Result<OptimizerState, String> {
    if bytes.len() < HEADER_LEN_V3 || bytes[..4] != OPTIMIZER_MAGIC {
        return Err("not an optimiser-state file (bad magic or truncated)".into());
    }
    let version = u32_at(bytes, 4);
    if !(OLDEST_VERSION..=OPTIMIZER_VERSION).contains(&version) {
        return Err(format!(
            "format version {version}, this build reads versions {OLDEST_VERSION} to {OPTIMIZER_VERSION}"
        ));
    }
    if u32_at(bytes, 8) != checkpoint_crc {
        return Err("written for another version of the checkpoint (stale)".into());
    }
    let (header, resume_len) = if version >= 4 {
        if bytes.len() < HEADER_LEN {
            return Err("truncated header".into());
        }
        (HEADER_LEN, u64_at(bytes, 28))
    } else {
        (HEADER_LEN_V3, 0)
    };
    let n = u64::from(u32_at(bytes, 12));
    let r = u64_at(bytes, 16);
    let expected = (header as u64)
        .checked_add(n * 8)
        .and_then(|x| x.checked_add(r))
        .and_then(|x| x.checked_add(resume_len));
    if expected != Some(bytes.len() as u64) {
        return Err(format!(
            "truncated or padded: {} bytes, header says {}",
            bytes.len(),
            expected.map_or_else(|| "more than 2^64".into(), |e| e.to_string())
        ));
    }
    let payload = &bytes[header..];
    if crc32fast::hash(payload) != u32_at(bytes, 24) {
        return Err("checksum mismatch (corrupted)".into());
    }
    // The lengths add up to the file's, so each fits in usize.
    let (ids, rest) = payload.split_at(n as usize * 8);
    let (record, resume) = rest.split_at(r as usize);
    let param_ids = ids.chunks_exact(8).map(|c| u64_at(c, 0)).collect();
    let resume = if version >= 4 && !resume.is_empty() {
        Some(decode_resume(resume)?)
    } else {
        None
    };
    Ok(OptimizerState {
        param_ids,
        record: record.to_vec(),
        resume,
    })
}

fn decode_resume(b: &[u8]) -> Result<ResumeState, String> {
    if b.len() < RESUME_FIXED_LEN {
        return Err(format!(
            "resume state of {} bytes, at least {RESUME_FIXED_LEN}",
            b.len()
        ));
    }
    let mut rng_seed = [0u8; 32];
    rng_seed.copy_from_slice(&b[..32]);
    let rng_stream = u64_at(b, 32);
    let mut pos = [0u8; 16];
    pos.copy_from_slice(&b[40..56]);
    let count = u64_at(b, 56);
    let values = &b[RESUME_FIXED_LEN..];
    if Some(values.len() as u64) != count.checked_mul(4) {
        return Err(format!(
            "resume state: {} bytes of target-head values for {count} values",
            values.len()
        ));
    }
    let target_q: Vec<f32> = values
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(i) = target_q.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "resume state: target-head value {i} is {}",
            target_q[i]
        ));
    }
    Ok(ResumeState {
        target_q,
        rng_seed,
        rng_stream,
        rng_word_pos: u128::from_le_bytes(pos),
    })
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(resume: bool) -> OptimizerState {
        OptimizerState {
            param_ids: vec![7, 9, 11],
            record: b"adam moments".to_vec(),
            resume: resume.then(|| ResumeState {
                target_q: vec![0.5, -1.25, 3.0],
                rng_seed: [3; 32],
                rng_stream: 5,
                rng_word_pos: (1u128 << 70) + 17,
            }),
        }
    }

    #[test]
    fn a_state_round_trips_with_and_without_its_resume_part() {
        for resume in [false, true] {
            let s = state(resume);
            assert_eq!(decode(&encode(&s, 42), 42).unwrap(), s);
        }
    }

    /// A version 3 sidecar (28-byte header, no resume state), as the builds
    /// before version 4 wrote it, still loads.
    #[test]
    fn a_version_3_sidecar_loads_without_resume_state() {
        let s = state(false);
        let mut payload = Vec::new();
        for id in &s.param_ids {
            payload.extend_from_slice(&id.to_le_bytes());
        }
        payload.extend_from_slice(&s.record);
        let mut b = OPTIMIZER_MAGIC.to_vec();
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&42u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&(s.record.len() as u64).to_le_bytes());
        b.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        b.extend_from_slice(&payload);
        assert_eq!(decode(&b, 42).unwrap(), s);
    }

    #[test]
    fn damaged_sidecars_are_refused_with_the_reason() {
        let good = encode(&state(true), 42);
        assert!(decode(&good, 41).unwrap_err().contains("stale"));
        let mut v = good.clone();
        v[4] = 9;
        assert!(decode(&v, 42).unwrap_err().contains("format version 9"));
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(decode(&flipped, 42).unwrap_err().contains("checksum"));
        let short = &good[..good.len() - 1];
        assert!(
            decode(short, 42)
                .unwrap_err()
                .contains("truncated or padded")
        );
        assert!(decode(&good[..30], 42).unwrap_err().contains("truncated"));
        // A resume length that does not match its value count, and a
        // target value that is not finite, with checksums made to match.
        let mut s = state(true);
        s.resume.as_mut().unwrap().target_q[1] = f32::NAN;
        let e = decode(&encode(&s, 42), 42).unwrap_err();
        assert!(e.contains("target-head value 1 is NaN"), "{e}");
        let mut odd = good.clone();
        let count_at = odd.len() - 12 - 8;
        odd[count_at] = 4;
        let crc = crc32fast::hash(&odd[HEADER_LEN..]);
        odd[24..28].copy_from_slice(&crc.to_le_bytes());
        let e = decode(&odd, 42).unwrap_err();
        assert!(e.contains("for 4 values"), "{e}");
        for e in [
            decode(&good, 41).unwrap_err(),
            decode(short, 42).unwrap_err(),
        ] {
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
