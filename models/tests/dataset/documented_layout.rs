//! The dataset's byte layout as docs/DATASET.md lists it, byte for byte, and
//! the split example it gives.

use super::*;

/// The tiny episode whose bytes `docs/DATASET.md` lists.
fn doc_example() -> (DatasetSpec, Episode) {
    let spec = DatasetSpec::new(
        "example",
        "doc",
        vec![
            FieldSpec::new("x", -1.0, 1.0, "m"),
            FieldSpec::new("v", -5.0, 5.0, "m/s"),
        ],
        vec![FieldSpec::new("force", -10.0, 10.0, "N")],
        0.01,
    );
    let episode = Episode {
        seed: 42,
        observations: vec![0.0, 1.0, 0.5, -2.0],
        actions: vec![3.0],
        rewards: vec![0.25],
        terminated: false,
        truncated: true,
        success: true,
        frames: None,
    };
    (spec, episode)
}

const DOC_HEADER: [u8; 36] = [
    0x55, 0x57, 0x45, 0x50, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
    0x64, 0x58, 0x5d, 0xc7,
];
const DOC_PAYLOAD: [u8; 24] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0xc0,
    0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x3e,
];

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn header_bytes_match_the_documentation() {
    let tmp = TempDir::new("doc");
    let dir = tmp.join("data");
    let (spec, episode) = doc_example();
    let mut w = DatasetWriter::create(&dir, &spec).expect("create");
    w.write(&episode).expect("write");
    let bytes = std::fs::read(episode_file(&dir, 0)).expect("read");
    assert_eq!(bytes.len(), 60);
    assert_eq!(bytes[..36], DOC_HEADER, "{}", hex(&bytes[..36]));
    assert_eq!(bytes[36..], DOC_PAYLOAD, "{}", hex(&bytes[36..]));
    assert_eq!(crc32(&DOC_PAYLOAD).to_le_bytes(), DOC_HEADER[32..36]);
    // The document lists exactly these bytes.
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/DATASET.md");
    let doc = std::fs::read_to_string(&doc_path).expect("read docs/DATASET.md");
    for line in [
        hex(&DOC_HEADER[..16]),
        hex(&DOC_HEADER[16..32]),
        hex(&DOC_HEADER[32..]),
    ] {
        assert!(
            doc.contains(&line),
            "docs/DATASET.md lacks the header bytes `{line}`"
        );
    }
    assert!(
        doc.contains(&hex(&DOC_PAYLOAD)),
        "docs/DATASET.md lacks the payload bytes"
    );
    assert!(
        doc.contains(&format!("{:?}", KNOWN_SPLIT)),
        "docs/DATASET.md lacks the split example"
    );
    // And they read back.
    let back = Dataset::open(&dir).expect("open").load(0).expect("load");
    assert_bit_identical(&back, &episode);
}
