//! Whether a file is a whole GGUF model: its header read far enough to know
//! how long the file must be. A download cut short still starts with
//! `GGUF`; cached and pinned on first use, it would break `local:default`
//! and make the real file look like a changed one. Only the layout is
//! read (GGUF versions 2 and 3: header, metadata, tensor table), never the
//! weights.

use std::io::{BufReader, Read, Seek};
use std::path::Path;

/// The first bytes of every GGUF file.
pub(crate) const MAGIC: &[u8; 4] = b"GGUF";

/// The alignment of the tensor data when `general.alignment` is not given.
const DEFAULT_ALIGNMENT: u64 = 32;

/// Why `path` is not a whole GGUF file, or `Ok(None)` when it is one. `Err`
/// when the file cannot be read at all.
pub(crate) fn problem(path: &Path) -> std::io::Result<Option<String>> {
    Ok(read(path)?.problem)
}

/// What a GGUF file's header says of it, as far as it could be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Header {
    /// Why it is not a whole GGUF file; `None` when it is one.
    pub(crate) problem: Option<String>,
    /// Its `general.file_type`: llama.cpp's number for the quantisation of
    /// most of its tensors (`LLAMA_FTYPE_*`), when the file gives one.
    pub(crate) file_type: Option<u32>,
    /// Its `general.name`, when the file gives one.
    pub(crate) name: Option<String>,
}

/// Reads the header of the file at `path`: see [`Header`]. `Err` when the
/// file cannot be read at all.
pub(crate) fn read(path: &Path) -> std::io::Result<Header> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut reader = Reader {
        inner: BufReader::new(file),
        size,
        file_type: None,
        name: None,
    };
    let problem = match reader.layout() {
        Ok(needed) if needed <= size => None,
        Ok(needed) => Some(format!(
            "it is cut short: {size} bytes where its tensors need {needed} (an interrupted \
             download?)"
        )),
        Err(Malformed::Io(e)) => return Err(e),
        Err(Malformed::Eof) => Some(format!(
            "it is cut short: its header runs past the end of the file ({size} bytes)"
        )),
        Err(Malformed::Not(why)) => Some(why),
    };
    Ok(Header {
        problem,
        file_type: reader.file_type,
        name: reader.name,
    })
}

/// The name llama.cpp gives the quantisation `general.file_type` stands
/// for (`Q8_0`, `Q4_K_M`, ...), as model catalogues name their files;
/// `None` for a number not listed here.
pub(crate) fn file_type_name(file_type: u32) -> Option<&'static str> {
    Some(match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        _ => return None,
    })
}

/// Why a file's layout could not be read.
enum Malformed {
    /// The file ends inside the header.
    Eof,
    /// Not a GGUF file (of a version this reader knows).
    Not(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for Malformed {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Malformed::Eof
        } else {
            Malformed::Io(e)
        }
    }
}

struct Reader {
    inner: BufReader<std::fs::File>,
    size: u64,
    /// `general.file_type`, once read.
    file_type: Option<u32>,
    /// `general.name`, once read.
    name: Option<String>,
}

impl Reader {
    /// Reads the header, metadata and tensor table; returns the size the
    /// file must have: the start of the tensor data plus the end of its
    /// furthest tensor.
    fn layout(&mut self) -> Result<u64, Malformed> {
        let mut magic = [0u8; 4];
        self.inner.read_exact(&mut magic)?;
        if magic != *MAGIC {
            return Err(Malformed::Not("it does not start with `GGUF`".into()));
        }
        let version = self.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Malformed::Not(format!(
                "it is GGUF version {version}; versions 2 and 3 are read"
            )));
        }
        let tensors = self.count()?;
        let entries = self.count()?;
        if tensors == 0 {
            return Err(Malformed::Not("it holds no tensors, so no model".into()));
        }
        let mut alignment = DEFAULT_ALIGNMENT;
        for _ in 0..entries {
            let key = self.string()?;
            let kind = self.u32()?;
            if key == "general.alignment" && kind == 4 {
                alignment = u64::from(self.u32()?);
                if alignment == 0 || !alignment.is_power_of_two() {
                    return Err(Malformed::Not(format!(
                        "its general.alignment is {alignment}, not a power of two"
                    )));
                }
            } else if key == "general.file_type" && kind == 4 {
                self.file_type = Some(self.u32()?);
            } else if key == "general.name" && kind == 8 {
                self.name = Some(self.string()?);
            } else {
                self.skip_value(kind)?;
            }
        }
        let mut end = 0u64;
        for _ in 0..tensors {
            self.string()?;
            let dims = self.u32()?;
            if dims > 8 {
                return Err(Malformed::Not(format!("a tensor has {dims} dimensions")));
            }
            let mut elements = 1u64;
            for _ in 0..dims {
                elements = elements.saturating_mul(self.u64()?);
            }
            let kind = self.u32()?;
            let offset = self.u64()?;
            let bytes = tensor_bytes(kind, elements).unwrap_or(0);
            end = end.max(offset.saturating_add(bytes));
        }
        let header = self.inner.stream_position()?;
        let data = header.div_ceil(alignment).saturating_mul(alignment);
        Ok(data.saturating_add(end))
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        let mut b = [0u8; 4];
        self.inner.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        let mut b = [0u8; 8];
        self.inner.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A count of items, each at least a byte long: more than the file's
    /// size cannot be, and would only make the reader loop for nothing.
    fn count(&mut self) -> Result<u64, Malformed> {
        let n = self.u64()?;
        if n > self.size {
            return Err(Malformed::Eof);
        }
        Ok(n)
    }

    fn skip(&mut self, n: u64) -> Result<(), Malformed> {
        let n = i64::try_from(n).map_err(|_| Malformed::Eof)?;
        let at = self.inner.stream_position()?;
        if at.saturating_add(n as u64) > self.size {
            return Err(Malformed::Eof);
        }
        self.inner.seek_relative(n)?;
        Ok(())
    }

    fn string(&mut self) -> Result<String, Malformed> {
        let len = self.count()?;
        let mut bytes = vec![0u8; len as usize];
        self.inner.read_exact(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn skip_string(&mut self) -> Result<(), Malformed> {
        let len = self.count()?;
        self.skip(len)
    }

    /// Skips a metadata value of type `kind`.
    fn skip_value(&mut self, kind: u32) -> Result<(), Malformed> {
        match kind {
            8 => self.skip_string(),
            9 => {
                let item = self.u32()?;
                let n = self.count()?;
                match scalar_size(item) {
                    Some(size) => self.skip(n.saturating_mul(size)),
                    None => (0..n).try_for_each(|_| self.skip_value(item)),
                }
            }
            kind => match scalar_size(kind) {
                Some(size) => self.skip(size),
                None => Err(Malformed::Not(format!(
                    "a metadata value has the unknown type {kind}"
                ))),
            },
        }
    }
}

/// The size of a fixed-size metadata value type; `None` for strings,
/// arrays and unknown types.
fn scalar_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),     // u16, i16
        4..=6 => Some(4),     // u32, i32, f32
        10..=12 => Some(8),   // u64, i64, f64
        _ => None,
    }
}

/// The bytes of a tensor of `elements` elements of ggml type `kind`: its
/// blocks times the bytes of a block. `None` for a type not listed here
/// (a newer quantisation), whose tensor is then checked by its offset only.
fn tensor_bytes(kind: u32, elements: u64) -> Option<u64> {
    // (bytes per block, elements per block)
    let (bytes, block) = match kind {
        0 => (4, 1),       // F32
        1 | 30 => (2, 1),  // F16, BF16
        2 => (18, 32),     // Q4_0
        3 => (20, 32),     // Q4_1
        6 => (22, 32),     // Q5_0
        7 => (24, 32),     // Q5_1
        8 => (34, 32),     // Q8_0
        9 => (36, 32),     // Q8_1
        10 => (84, 256),   // Q2_K
        11 => (110, 256),  // Q3_K
        12 => (144, 256),  // Q4_K
        13 => (176, 256),  // Q5_K
        14 => (210, 256),  // Q6_K
        15 => (292, 256),  // Q8_K
        16 => (66, 256),   // IQ2_XXS
        17 => (74, 256),   // IQ2_XS
        18 => (98, 256),   // IQ3_XXS
        19 => (50, 256),   // IQ1_S
        20 => (18, 32),    // IQ4_NL
        21 => (110, 256),  // IQ3_S
        22 => (82, 256),   // IQ2_S
        23 => (136, 256),  // IQ4_XS
        24 => (1, 1),      // I8
        25 => (2, 1),      // I16
        26 => (4, 1),      // I32
        27 | 28 => (8, 1), // I64, F64
        29 => (56, 256),   // IQ1_M
        _ => return None,
    };
    Some(elements.div_ceil(block).saturating_mul(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xsafe_testkit::tiny_gguf;

    fn problem_of(bytes: &[u8]) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        std::fs::write(&path, bytes).unwrap();
        problem(&path).unwrap()
    }

    #[test]
    fn a_whole_file_passes_and_a_cut_one_does_not() {
        let whole = tiny_gguf("tiny");
        assert_eq!(problem_of(&whole), None);
        // Longer (padding after the last tensor) is fine.
        let mut longer = whole.clone();
        longer.extend([0u8; 10]);
        assert_eq!(problem_of(&longer), None);
        // Cut inside the last tensor, inside the data, inside the header.
        let size = whole.len();
        let cut = problem_of(&whole[..size - 1]).unwrap();
        assert!(
            cut.contains(&format!("{} bytes where its tensors need {size}", size - 1)),
            "{cut}"
        );
        assert!(
            problem_of(&whole[..size - 100])
                .unwrap()
                .contains("cut short")
        );
        let header = problem_of(&whole[..40]).unwrap();
        assert!(header.contains("header runs past the end"), "{header}");
        assert!(problem_of(b"GGU").unwrap().contains("header runs past"));
    }

    #[test]
    fn other_files_and_versions_are_named() {
        assert!(
            problem_of(b"<html>please log in</html>")
                .unwrap()
                .contains("does not start with `GGUF`")
        );
        let mut v1 = tiny_gguf("tiny");
        v1[4..8].copy_from_slice(&1u32.to_le_bytes());
        assert!(problem_of(&v1).unwrap().contains("GGUF version 1"));
        // A count larger than the file is a cut or broken header, not a
        // reason to loop for hours.
        // A header and nothing else is whole, and no model.
        let mut empty = b"GGUF".to_vec();
        empty.extend(3u32.to_le_bytes());
        empty.extend([0u8; 16]);
        assert!(problem_of(&empty).unwrap().contains("holds no tensors"));
        let mut huge = tiny_gguf("tiny");
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(problem_of(&huge).unwrap().contains("header runs past"));
    }

    #[test]
    fn the_real_models_in_the_cache_are_whole() {
        // CI puts the demo model there; elsewhere this checks what is cached.
        let Some(dir) = xsafe_testkit::models_dir() else {
            return;
        };
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "gguf") {
                assert_eq!(problem(&path).unwrap(), None, "{}", path.display());
            }
        }
    }

    #[test]
    fn the_quantisation_and_name_are_read_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        std::fs::write(&path, xsafe_testkit::tiny_gguf_of_type("Gemma 3 270m", 15)).unwrap();
        let header = read(&path).unwrap();
        assert_eq!(header.problem, None);
        assert_eq!(header.file_type, Some(15));
        assert_eq!(header.name.as_deref(), Some("Gemma 3 270m"));
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(7), Some("Q8_0"));
        assert_eq!(file_type_name(1024), None);
        // A file that gives none.
        std::fs::write(&path, tiny_gguf("plain")).unwrap();
        let header = read(&path).unwrap();
        assert_eq!(
            (header.file_type, header.name.as_deref()),
            (None, Some("plain"))
        );
        // What a cut header got as far as is kept beside the problem.
        let typed = xsafe_testkit::tiny_gguf_of_type("x", 7);
        std::fs::write(&path, &typed[..typed.len() - 1]).unwrap();
        let header = read(&path).unwrap();
        assert!(header.problem.unwrap().contains("cut short"));
        assert_eq!(header.file_type, Some(7));
    }

    #[test]
    fn block_sizes() {
        assert_eq!(tensor_bytes(8, 64), Some(68));
        assert_eq!(tensor_bytes(12, 512), Some(288));
        assert_eq!(tensor_bytes(0, 3), Some(12));
        assert_eq!(tensor_bytes(99, 10), None);
    }
}
