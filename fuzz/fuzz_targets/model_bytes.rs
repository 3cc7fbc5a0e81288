//! Model files: a valid file of the tiny model, patched by the input (bytes
//! overwritten, cut or extended) with its length field and checksum made
//! right again, so the decoder's checks past the checksum are reached; or any
//! bytes at all. Loading never panics; a model that loads classifies any text
//! and the texts it was trained on with finite confidences in `[0, 1]` and encodes to a file that loads back equal.

#![no_main]

use arbitrary::Arbitrary;
use hotline_core::classify::{Classifier, Model, fnv1a64};
use hotline_fuzz::{check_prediction, tiny_corpus, tiny_model};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum File {
    /// The tiny model's file with these bytes overwritten (offsets wrap).
    Patched {
        patches: Vec<(u16, u8)>,
        /// Drop this many bytes from the end of the content, or add zeros.
        resize: i8,
        /// Whether to write the true length and checksum.
        fix: bool,
    },
    /// Any bytes.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    file: File,
    title: String,
    body: String,
    k: u8,
}

fuzz_target!(|input: Input| {
    let bytes = match input.file {
        File::Raw(bytes) => bytes,
        File::Patched {
            patches,
            resize,
            fix,
        } => {
            let mut content = tiny_model().to_bytes();
            content.truncate(content.len() - 8);
            if resize < 0 {
                let cut = usize::from(resize.unsigned_abs());
                content.truncate(content.len().saturating_sub(cut));
            } else {
                content.resize(content.len() + usize::try_from(resize).unwrap_or(0), 0);
            }
            if !content.is_empty() {
                for (offset, byte) in patches {
                    let at = usize::from(offset) % content.len();
                    content[at] = byte;
                }
            }
            if fix && content.len() >= 20 {
                let total = (content.len() as u64 + 8).to_le_bytes();
                content[12..20].copy_from_slice(&total);
            }
            let checksum = fnv1a64(&content);
            content.extend_from_slice(&checksum.to_le_bytes());
            content
        }
    };
    let Ok(model) = Model::from_bytes(&bytes) else {
        return;
    };
    let again = Model::from_bytes(&model.to_bytes()).unwrap_or_else(|error| {
        panic!("a loaded model does not encode to a loadable file: {error}")
    });
    assert_eq!(again, model, "a model changed through its file");
    let k = usize::from(input.k % 8);
    let classifier = Classifier::new(model);
    check_prediction(&classifier.classify(&input.title, &input.body, k), k);
    // Texts whose n-grams the model has rows for, so damaged weights are read.
    for (text, _) in tiny_corpus().iter().step_by(3) {
        check_prediction(&classifier.classify("", text, k), k);
    }
});
