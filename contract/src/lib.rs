//! The lane↔central contract: everything that crosses MQTT between an
//! `edge-agent` and whoever listens (the central service, `edge-agent
//! follow`/`tail`, another agency's verifier).
//!
//! One crate for both ends, so neither redefines a payload and the bytes one
//! writes are the bytes the other reads. It does no I/O and needs no runtime:
//! types, topic names, canonical JSON and Ed25519 signatures, image chunking
//! and reassembly, all testable on byte arrays. `docs/schema/` is generated
//! from these types ([`schema::all`]) and `docs/mqtt.md` describes them.
//!
//! | module | what |
//! |---|---|
//! | [`topics`] | `<prefix>/<site>/<lane>/<leaf>`, built and parsed |
//! | [`passage`] | the passage record (`<base>/passage`, signed) |
//! | [`decision`] | the decision inside it and on `<base>/decision` (signed) |
//! | [`lane`] | status, device health, alarms |
//! | [`image`], [`reassembly`] | image references, manifests, chunks |
//! | [`command`] | central's signed commands, their envelope and acks |
//! | [`declaration`] | pre-declarations carried by a `declare` command |
//! | [`stats`] | clearance statistics |
//! | [`audit`] | signed audit checkpoints and the ledger that checks them |
//! | [`signing`] | canonical JSON, signing and verifying results |
//! | [`device`], [`reads`] | device readings and recognition results inside records |

pub mod audit;
pub mod command;
pub mod decision;
pub mod declaration;
pub mod device;
pub mod image;
pub mod lane;
pub mod passage;
pub mod reads;
pub mod reassembly;
pub mod schema;
pub mod signing;
pub mod stats;
pub mod topics;

pub use topics::Topics;
