//! Cutting a recogniser's output layer down to the classes its reader can use.
//!
//! PP-OCRv6 small is the plates' second opinion, yet its last layer scores every one of its
//! 18,710 dictionary characters at every time step: a 120×18,710 weight, the largest tensor the
//! lane loads (9 MB resident), and a softmax over 18,710 classes per step, for a reader that asks
//! about the 121 classes a plate can use. Cut to those (and the CTC blank), the softmax is
//! renormalised over them: at each time step every kept class's probability is divided by the
//! same sum, so under any plate layout the best path is the same path, and a text's
//! log-likelihood changes by the same amount as its rival's. Only the probabilities along the
//! path rise, by the mass the step gave to characters no plate has.
//!
//! PP-OCRv4, the recogniser of container codes and plates, can be cut the same way (6,625
//! classes, 224 of them kept; a 120×6,625 weight, 3.2 MB), but it is not by default: it also
//! decodes freely, outside any layout, where the cut changes what it says (see
//! [`crate::ocr::pipeline::OcrOptions::rec_narrow`]).
//!
//! The ONNX file is edited at the protobuf wire level: the classifier's weight `[H, C]` and bias
//! `[C]` are sliced to the kept columns, whether they are graph initializers or the tensors of
//! `Constant` nodes (as older paddle2onnx exports store every weight), and every declared shape
//! dimension of `C` becomes the kept count. Every other field is copied byte for byte, so
//! nothing a newer ONNX adds is lost.

/// Why a model could not be narrowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NarrowError {
    #[error("the model file is not valid protobuf (truncated at byte {0})")]
    Truncated(usize),
    #[error("no single float classifier over {classes} classes: {weights} weight(s) [H, {classes}] and {biases} bias(es) [{classes}]")]
    NoClassifier { classes: usize, weights: usize, biases: usize },
    #[error("class {class} to keep is not below the {classes} classes of the model")]
    BadClass { class: usize, classes: usize },
    #[error("a classifier needs at least one class")]
    NoClasses,
    #[error("the model file uses protobuf wire type {wire} at byte {at}, which ONNX does not")]
    BadWireType { wire: u8, at: usize },
    #[error("the classifier tensor {0} holds no raw or float data of its declared size")]
    BadTensor(String),
}

/// `model` (an ONNX `ModelProto`) with its classifier over `classes` outputs cut to the columns in
/// `keep`, in that order.
pub fn narrow_classifier(model: &[u8], classes: usize, keep: &[usize]) -> Result<Vec<u8>, NarrowError> {
    if classes == 0 {
        return Err(NarrowError::NoClasses);
    }
    if let Some(&class) = keep.iter().find(|&&k| k >= classes) {
        return Err(NarrowError::BadClass { class, classes });
    }
    let mut cut = Cut { classes: classes as u64, keep, weights: 0, biases: 0 };
    let out = cut.model(model)?;
    if (cut.weights, cut.biases) != (1, 1) {
        return Err(NarrowError::NoClassifier { classes, weights: cut.weights, biases: cut.biases });
    }
    Ok(out)
}

/// The value of the model's metadata entry `key` (ONNX `metadata_props`), if it has one: where
/// PaddleOCR exports keep the recogniser's dictionary.
pub fn metadata(model: &[u8], key: &str) -> Result<Option<String>, NarrowError> {
    for f in fields(model)? {
        if (f.number, f.wire) != (field::MODEL_METADATA, LEN) {
            continue;
        }
        let entry = fields(f.payload)?;
        let text = |number| entry.iter().find(|e| (e.number, e.wire) == (number, LEN)).map(|e| e.payload);
        if text(field::ENTRY_KEY) == Some(key.as_bytes()) {
            let value = text(field::ENTRY_VALUE).unwrap_or_default();
            return Ok(Some(String::from_utf8_lossy(value).into_owned()));
        }
    }
    Ok(None)
}

/// Field numbers of the ONNX messages walked (onnx.proto).
mod field {
    pub const MODEL_GRAPH: u32 = 7;
    pub const MODEL_METADATA: u32 = 14;
    pub const ENTRY_KEY: u32 = 1;
    pub const ENTRY_VALUE: u32 = 2;
    pub const GRAPH_NODE: u32 = 1;
    pub const NODE_ATTRIBUTE: u32 = 5;
    pub const ATTRIBUTE_TENSOR: u32 = 5;
    pub const GRAPH_INITIALIZER: u32 = 5;
    pub const GRAPH_INPUT: u32 = 11;
    pub const GRAPH_OUTPUT: u32 = 12;
    pub const GRAPH_VALUE_INFO: u32 = 13;
    pub const VALUE_INFO_TYPE: u32 = 2;
    pub const TYPE_TENSOR: u32 = 1;
    pub const TENSOR_TYPE_SHAPE: u32 = 2;
    pub const SHAPE_DIM: u32 = 1;
    pub const DIM_VALUE: u32 = 1;
    pub const TENSOR_DIMS: u32 = 1;
    pub const TENSOR_DATA_TYPE: u32 = 2;
    pub const TENSOR_FLOAT_DATA: u32 = 4;
    pub const TENSOR_NAME: u32 = 8;
    pub const TENSOR_RAW_DATA: u32 = 9;
}

const FLOAT: u64 = 1;
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// One field as found: its number, wire type, scalar value (varints) or payload (the rest), and
/// its whole encoding, to copy unchanged.
struct Field<'a> {
    number: u32,
    wire: u8,
    value: u64,
    payload: &'a [u8],
    raw: &'a [u8],
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, NarrowError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(NarrowError::Truncated(*pos))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(NarrowError::Truncated(*pos))
}

fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, NarrowError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = varint(buf, &mut pos)?;
        let (number, wire) = ((key >> 3) as u32, (key & 7) as u8);
        let take = |n: usize, pos: &mut usize| -> Result<&[u8], NarrowError> {
            let end = pos.checked_add(n).filter(|&e| e <= buf.len()).ok_or(NarrowError::Truncated(*pos))?;
            let s = &buf[*pos..end];
            *pos = end;
            Ok(s)
        };
        let (value, payload) = match wire {
            VARINT => (varint(buf, &mut pos)?, &buf[pos..pos]),
            FIXED64 => (0, take(8, &mut pos)?),
            LEN => {
                let n = varint(buf, &mut pos)?;
                (n, take(usize::try_from(n).map_err(|_| NarrowError::Truncated(pos))?, &mut pos)?)
            }
            FIXED32 => (0, take(4, &mut pos)?),
            _ => return Err(NarrowError::BadWireType { wire, at: start }),
        };
        out.push(Field { number, wire, value, payload, raw: &buf[start..pos] });
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, number: u32, wire: u8) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire));
}

fn put_bytes(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    put_key(out, number, LEN);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

struct Cut<'k> {
    classes: u64,
    keep: &'k [usize],
    weights: usize,
    biases: usize,
}

impl Cut<'_> {
    fn model(&mut self, buf: &[u8]) -> Result<Vec<u8>, NarrowError> {
        self.rewrite(buf, |cut, f| match (f.number, f.wire) {
            (field::MODEL_GRAPH, LEN) => cut.graph(f.payload).map(Some),
            _ => Ok(None),
        })
    }

    fn graph(&mut self, buf: &[u8]) -> Result<Vec<u8>, NarrowError> {
        self.rewrite(buf, |cut, f| match (f.number, f.wire) {
            (field::GRAPH_INITIALIZER, LEN) => cut.tensor(f.payload),
            (field::GRAPH_NODE, LEN) => cut.node(f.payload).map(Some),
            (field::GRAPH_INPUT | field::GRAPH_OUTPUT | field::GRAPH_VALUE_INFO, LEN) => cut
                .nested(
                    f.payload,
                    &[field::VALUE_INFO_TYPE, field::TYPE_TENSOR, field::TENSOR_TYPE_SHAPE, field::SHAPE_DIM],
                )
                .map(Some),
            _ => Ok(None),
        })
    }

    /// A node with the tensor of each of its attributes (a `Constant`'s value) cut if it is the
    /// classifier's.
    fn node(&mut self, buf: &[u8]) -> Result<Vec<u8>, NarrowError> {
        self.rewrite(buf, |cut, f| match (f.number, f.wire) {
            (field::NODE_ATTRIBUTE, LEN) => cut
                .rewrite(f.payload, |cut, a| match (a.number, a.wire) {
                    (field::ATTRIBUTE_TENSOR, LEN) => cut.tensor(a.payload),
                    _ => Ok(None),
                })
                .map(Some),
            _ => Ok(None),
        })
    }

    /// A message with each field either replaced (`Some`, re-emitted with that payload) or
    /// copied as it was.
    fn rewrite(
        &mut self,
        buf: &[u8],
        mut each: impl FnMut(&mut Self, &Field<'_>) -> Result<Option<Vec<u8>>, NarrowError>,
    ) -> Result<Vec<u8>, NarrowError> {
        let mut out = Vec::with_capacity(buf.len());
        for f in fields(buf)? {
            match each(self, &f)? {
                Some(payload) => put_bytes(&mut out, f.number, &payload),
                None => out.extend_from_slice(f.raw),
            }
        }
        Ok(out)
    }

    /// Follows `path` (value info → type → tensor type → shape → dimension) down to each
    /// dimension and rewrites every `dim_value` equal to the class count.
    fn nested(&mut self, buf: &[u8], path: &[u32]) -> Result<Vec<u8>, NarrowError> {
        match path.split_first() {
            Some((&next, rest)) => self.rewrite(buf, |cut, f| match (f.number == next, f.wire) {
                (true, LEN) => cut.nested(f.payload, rest).map(Some),
                _ => Ok(None),
            }),
            None => self.dimension(buf),
        }
    }

    fn dimension(&mut self, buf: &[u8]) -> Result<Vec<u8>, NarrowError> {
        let mut out = Vec::with_capacity(buf.len());
        for f in fields(buf)? {
            if (f.number, f.wire, f.value) == (field::DIM_VALUE, VARINT, self.classes) {
                put_key(&mut out, field::DIM_VALUE, VARINT);
                put_varint(&mut out, self.keep.len() as u64);
            } else {
                out.extend_from_slice(f.raw);
            }
        }
        Ok(out)
    }

    /// The classifier's weight or bias, sliced; `None` for any other tensor.
    fn tensor(&mut self, buf: &[u8]) -> Result<Option<Vec<u8>>, NarrowError> {
        let fs = fields(buf)?;
        let mut dims = Vec::new();
        let mut data_type = 0;
        for f in &fs {
            match (f.number, f.wire) {
                (field::TENSOR_DIMS, VARINT) => dims.push(f.value),
                (field::TENSOR_DIMS, LEN) => {
                    let mut pos = 0;
                    while pos < f.payload.len() {
                        dims.push(varint(f.payload, &mut pos)?);
                    }
                }
                (field::TENSOR_DATA_TYPE, VARINT) => data_type = f.value,
                _ => {}
            }
        }
        let rows = match dims[..] {
            [h, c] if c == self.classes => h,
            [c] if c == self.classes => 1,
            _ => return Ok(None),
        };
        if data_type != FLOAT {
            return Ok(None);
        }
        if dims.len() == 2 {
            self.weights += 1;
        } else {
            self.biases += 1;
        }
        let name = fs
            .iter()
            .find(|f| f.number == field::TENSOR_NAME)
            .map(|f| String::from_utf8_lossy(f.payload).into_owned())
            .unwrap_or_default();
        let c = self.classes as usize;
        let expected = usize::try_from(rows).ok().and_then(|r| r.checked_mul(c));
        let values = match float_values(&fs) {
            Some(v) if Some(v.len()) == expected => v,
            _ => return Err(NarrowError::BadTensor(name)),
        };
        let mut out = Vec::with_capacity(buf.len() / c * self.keep.len() + 64);
        for f in &fs {
            if !matches!(f.number, field::TENSOR_DIMS | field::TENSOR_FLOAT_DATA | field::TENSOR_RAW_DATA) {
                out.extend_from_slice(f.raw);
            }
        }
        for (i, &d) in dims.iter().enumerate() {
            put_key(&mut out, field::TENSOR_DIMS, VARINT);
            put_varint(&mut out, if i + 1 == dims.len() { self.keep.len() as u64 } else { d });
        }
        let mut raw = Vec::with_capacity(values.len() / c * self.keep.len() * 4);
        for row in values.chunks_exact(c) {
            for &k in self.keep {
                raw.extend_from_slice(&row[k].to_le_bytes());
            }
        }
        put_bytes(&mut out, field::TENSOR_RAW_DATA, &raw);
        Ok(Some(out))
    }
}

/// A float tensor's values, from `raw_data` (little-endian) or `float_data` (packed or not);
/// `None` when some field holds a part of a float.
fn float_values(fs: &[Field<'_>]) -> Option<Vec<f32>> {
    let le = |b: &[u8]| -> Option<Vec<f32>> {
        let words = b.chunks_exact(4);
        words
            .remainder()
            .is_empty()
            .then(|| words.map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect())
    };
    if let Some(f) = fs.iter().find(|f| f.number == field::TENSOR_RAW_DATA && f.wire == LEN) {
        return le(f.payload);
    }
    let mut out = Vec::new();
    for f in fs.iter().filter(|f| f.number == field::TENSOR_FLOAT_DATA) {
        match f.wire {
            LEN | FIXED32 => out.extend(le(f.payload)?),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn bytes_field(number: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, number, payload);
        out
    }

    fn varint_field(number: u32, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_key(&mut out, number, VARINT);
        put_varint(&mut out, v);
        out
    }

    fn floats(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// A float tensor: dims unpacked, data as `raw_data` or as packed `float_data`.
    fn tensor(name: &str, dims: &[u64], values: &[f32], raw: bool) -> Vec<u8> {
        let mut parts: Vec<Vec<u8>> = dims.iter().map(|&d| varint_field(field::TENSOR_DIMS, d)).collect();
        parts.push(varint_field(field::TENSOR_DATA_TYPE, FLOAT));
        parts.push(bytes_field(field::TENSOR_NAME, name.as_bytes()));
        let data = if raw { field::TENSOR_RAW_DATA } else { field::TENSOR_FLOAT_DATA };
        parts.push(bytes_field(data, &floats(values)));
        message(&parts)
    }

    fn value_info(name: &str, dims: &[u64]) -> Vec<u8> {
        let dims: Vec<Vec<u8>> =
            dims.iter().map(|&d| bytes_field(field::SHAPE_DIM, &varint_field(field::DIM_VALUE, d))).collect();
        let shape = bytes_field(field::TENSOR_TYPE_SHAPE, &message(&dims));
        let tensor_type = bytes_field(field::TYPE_TENSOR, &message(&[varint_field(1, FLOAT), shape]));
        message(&[bytes_field(1, name.as_bytes()), bytes_field(field::VALUE_INFO_TYPE, &tensor_type)])
    }

    /// A model with a 2x4 classifier (weight as raw data, bias as float data), an unrelated
    /// tensor of 4 values, a declared output of 4 classes and fields the cut must carry over.
    fn model() -> Vec<u8> {
        let graph = message(&[
            bytes_field(
                field::GRAPH_INITIALIZER,
                &tensor("w", &[2, 4], &[0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0], true),
            ),
            bytes_field(field::GRAPH_INITIALIZER, &tensor("b", &[4], &[0.5, 1.5, 2.5, 3.5], false)),
            bytes_field(field::GRAPH_INITIALIZER, &tensor("other", &[2, 2], &[7.0; 4], true)),
            bytes_field(field::GRAPH_OUTPUT, &value_info("probs", &[0, 0, 4])),
            bytes_field(2, b"graph name"),
        ]);
        message(&[varint_field(1, 6), bytes_field(field::MODEL_GRAPH, &graph), bytes_field(14, b"metadata")])
    }

    fn only(buf: &[u8], number: u32) -> Vec<&[u8]> {
        fields(buf).unwrap().into_iter().filter(|f| f.number == number).map(|f| f.payload).collect()
    }

    fn tensor_parts(t: &[u8]) -> (Vec<u64>, Vec<f32>) {
        let fs = fields(t).unwrap();
        let dims = fs.iter().filter(|f| f.number == field::TENSOR_DIMS).map(|f| f.value).collect();
        (dims, float_values(&fs).expect("whole floats"))
    }

    #[test]
    fn the_classifier_keeps_its_chosen_columns_and_everything_else_is_copied() {
        let cut = narrow_classifier(&model(), 4, &[0, 2, 3]).unwrap();
        let first = &fields(&cut).unwrap()[0];
        assert_eq!((first.number, first.wire, first.value), (1, VARINT, 6), "ir_version carried over");
        assert_eq!(only(&cut, 14), vec![&b"metadata"[..]]);
        let graph = only(&cut, field::MODEL_GRAPH)[0];
        assert_eq!(only(graph, 2), vec![&b"graph name"[..]]);
        let inits = only(graph, field::GRAPH_INITIALIZER);
        assert_eq!(tensor_parts(inits[0]), (vec![2, 3], vec![0.0, 2.0, 3.0, 10.0, 12.0, 13.0]));
        assert_eq!(tensor_parts(inits[1]), (vec![3], vec![0.5, 2.5, 3.5]));
        assert_eq!(
            inits[2],
            &tensor("other", &[2, 2], &[7.0; 4], true)[..],
            "an unrelated tensor is untouched"
        );
        assert_eq!(only(graph, field::GRAPH_OUTPUT)[0], &value_info("probs", &[0, 0, 3])[..]);
    }

    /// A `Constant` node holding `t` as its `value` attribute.
    fn constant(output: &str, t: &[u8]) -> Vec<u8> {
        let attribute = message(&[bytes_field(1, b"value"), bytes_field(field::ATTRIBUTE_TENSOR, t)]);
        message(&[
            bytes_field(2, output.as_bytes()),
            bytes_field(4, b"Constant"),
            bytes_field(field::NODE_ATTRIBUTE, &attribute),
        ])
    }

    #[test]
    fn a_classifier_held_in_constant_nodes_is_cut_and_other_nodes_are_copied() {
        let relu = message(&[bytes_field(1, b"x"), bytes_field(2, b"y"), bytes_field(4, b"Relu")]);
        let graph = message(&[
            bytes_field(field::GRAPH_NODE, &relu),
            bytes_field(
                field::GRAPH_NODE,
                &constant("w", &tensor("w", &[2, 4], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], true)),
            ),
            bytes_field(field::GRAPH_NODE, &constant("b", &tensor("b", &[4], &[0.5, 1.5, 2.5, 3.5], true))),
        ]);
        let cut = narrow_classifier(&bytes_field(field::MODEL_GRAPH, &graph), 4, &[0, 3]).unwrap();
        let nodes = only(only(&cut, field::MODEL_GRAPH)[0], field::GRAPH_NODE);
        assert_eq!(nodes[0], &relu[..], "a node without a classifier tensor is copied as it was");
        let value = |node: &[u8]| {
            let attribute = only(node, field::NODE_ATTRIBUTE)[0];
            tensor_parts(only(attribute, field::ATTRIBUTE_TENSOR)[0])
        };
        assert_eq!(value(nodes[1]), (vec![2, 2], vec![0.0, 3.0, 4.0, 7.0]));
        assert_eq!(value(nodes[2]), (vec![2], vec![0.5, 3.5]));
        assert_eq!(only(nodes[1], 4), vec![&b"Constant"[..]]);
    }

    #[test]
    fn the_dictionary_is_read_from_the_model_metadata() {
        let entry = |k: &str, v: &str| message(&[bytes_field(1, k.as_bytes()), bytes_field(2, v.as_bytes())]);
        let m = message(&[
            bytes_field(field::MODEL_METADATA, &entry("other", "x")),
            bytes_field(field::MODEL_METADATA, &entry("character", "a\nб\n京")),
        ]);
        assert_eq!(metadata(&m, "character").unwrap().as_deref(), Some("a\nб\n京"));
        assert_eq!(metadata(&m, "missing").unwrap(), None);
        assert!(metadata(&m[..m.len() - 2], "character").is_err(), "a truncated model is an error");
    }

    #[test]
    fn a_model_without_exactly_one_classifier_is_refused() {
        let err = narrow_classifier(&model(), 5, &[0]).unwrap_err();
        assert_eq!(err, NarrowError::NoClassifier { classes: 5, weights: 0, biases: 0 });
        let twice = message(&[model(), model()]);
        let err = narrow_classifier(&twice, 4, &[0]).unwrap_err();
        assert!(matches!(err, NarrowError::NoClassifier { weights: 2, biases: 2, .. }), "{err}");
        assert_eq!(
            narrow_classifier(&model(), 4, &[4]).unwrap_err(),
            NarrowError::BadClass { class: 4, classes: 4 }
        );
    }

    #[test]
    fn a_truncated_model_or_a_short_tensor_is_an_error_not_a_panic() {
        let m = model();
        for end in [1, 3, m.len() / 2, m.len() - 1] {
            let r = narrow_classifier(&m[..end], 4, &[0, 1]);
            assert!(r.is_err(), "cut at {end} of {}", m.len());
        }
        let short = tensor("w", &[2, 4], &[1.0; 7], true);
        let graph = bytes_field(field::GRAPH_INITIALIZER, &short);
        let err = narrow_classifier(&bytes_field(field::MODEL_GRAPH, &graph), 4, &[0]).unwrap_err();
        assert_eq!(err, NarrowError::BadTensor("w".into()));
        let mut ragged = floats(&[1.0; 8]);
        ragged.pop();
        let mut t = varint_field(field::TENSOR_DIMS, 2);
        t.extend(varint_field(field::TENSOR_DIMS, 4));
        t.extend(varint_field(field::TENSOR_DATA_TYPE, FLOAT));
        t.extend(bytes_field(field::TENSOR_RAW_DATA, &ragged));
        let graph = bytes_field(field::GRAPH_INITIALIZER, &t);
        let err = narrow_classifier(&bytes_field(field::MODEL_GRAPH, &graph), 4, &[0]).unwrap_err();
        assert_eq!(err, NarrowError::BadTensor(String::new()), "31 bytes are not 8 floats");
        assert_eq!(narrow_classifier(&model(), 0, &[]).unwrap_err(), NarrowError::NoClasses);
        // Wire type 3 (a group start) appears in no ONNX file.
        assert!(matches!(
            narrow_classifier(&[0x0b], 4, &[0]),
            Err(NarrowError::BadWireType { wire: 3, at: 0 })
        ));
    }
}
