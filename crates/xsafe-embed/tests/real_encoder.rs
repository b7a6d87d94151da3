//! The encoder on the real all-MiniLM-L6-v2, when it is on this machine:
//! `XSAFE_TEST_ENCODER=DIR`, or `all-minilm-l6-v2` in the xsafe cache
//! (`XSAFE_CACHE_DIR`, else the platform's cache directory);
//! `scripts/install-encoder.sh` puts it there. Without it the tests print
//! "skipped: no encoder" and pass; CI sets the variable, so there they run.
//!
//! The expected token ids come from Hugging Face's `tokenizers` library on
//! the same `tokenizer.json`, and the expected vectors from an independent
//! NumPy forward pass of the same weights: two implementations agreeing.

use std::sync::OnceLock;
use xsafe_embed::{Encoder, cosine, models};

fn encoder() -> Option<&'static Encoder> {
    static ENCODER: OnceLock<Option<Encoder>> = OnceLock::new();
    ENCODER
        .get_or_init(|| {
            let dir = xsafe_testkit::encoder_dir(models::DEFAULT_ENCODER, &models::CACHED_FILES)?;
            Some(Encoder::load(&dir).unwrap_or_else(|e| panic!("{e}")))
        })
        .as_ref()
}

#[test]
fn tokenizes_as_hugging_face_does() {
    let Some(e) = encoder() else { return };
    let cases: &[(&str, &[u32])] = &[
        (
            "How do I kill a Python process?",
            &[2129, 2079, 1045, 3102, 1037, 18750, 2832, 1029],
        ),
        (
            "Héllo, WORLD!! naïve café — “quoted” text…",
            &[
                7592, 1010, 2088, 999, 999, 15743, 7668, 1517, 1523, 9339, 1524, 3793, 1529,
            ],
        ),
        (
            "unaffable pneumonoultramicroscopicsilicovolcanoconiosis 中文 x\u{200b}y \t tabs",
            &[
                14477, 20961, 3468, 1052, 2638, 2819, 17175, 11314, 6444, 2594, 7352, 26461, 27572,
                11261, 6767, 15472, 6761, 8663, 10735, 2483, 1746, 1861, 1060, 2100, 21628, 2015,
            ],
        ),
        (
            "e-mail: a.b@c.org costs $5 (approx.) #1 50%",
            &[
                1041, 1011, 5653, 1024, 1037, 1012, 1038, 1030, 1039, 1012, 8917, 5366, 1002, 1019,
                1006, 22480, 1012, 1007, 1001, 1015, 2753, 1003,
            ],
        ),
        ("", &[]),
    ];
    for (text, want) in cases {
        assert_eq!(e.token_ids(text), *want, "{text:?}");
    }
}

#[test]
fn embeds_as_the_reference_forward_pass_does() {
    let Some(e) = encoder() else { return };
    let kill = e.embed("How do I kill a Python process?");
    assert_eq!(kill.len(), 384);
    assert!((cosine(&kill, &kill) - 1.0).abs() < 1e-5);
    let want = [-0.00061f32, 0.03047, -0.07028, -0.0626, 0.0457, -0.11729];
    for (i, (got, want)) in kill.iter().zip(want).enumerate() {
        assert!((got - want).abs() < 2e-4, "component {i}: {got} vs {want}");
    }
    let terminate = e.embed("How can I terminate a running program in Python?");
    let coke = e.embed("Where can I buy a can of coke?");
    assert!((cosine(&kill, &terminate) - 0.82917).abs() < 1e-3);
    assert!((cosine(&kill, &coke) - 0.10551).abs() < 1e-3);
}

#[test]
fn long_texts_are_cut_to_the_models_limit() {
    let Some(e) = encoder() else { return };
    let long: Vec<String> = (0..400).map(|i| format!("word{i}")).collect();
    let long = long.join(" ");
    assert_eq!(e.token_ids(&long).len(), 254);
    // Only the first 254 pieces count: a different ending changes nothing.
    let other = format!("{long} and a quite different ending about something else");
    assert_eq!(e.embed(&long), e.embed(&other));
}
