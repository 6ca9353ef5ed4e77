//! Where the lane's messages go: [`Publish`], implemented by the agent's
//! outbox and uplink, by the metrics wrapper around it, and by collectors in
//! tests. The lane's outlet is the only caller, so everything the lane sends
//! leaves in one order.

/// Where the lane's messages go: the outbox and uplink in the agent, a
/// collector in tests.
pub trait Publish: Send + Sync + 'static {
    fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) -> bool;

    /// Publishes a result and returns only once it is stored for good, with
    /// everything published before it.
    fn publish_result(&self, topic: String, payload: Vec<u8>) -> bool {
        self.publish(topic, payload, false)
    }

    /// Publishes `len` bytes of a stored file from `offset`. The uplink reads
    /// them only when it sends, so images are never copied into the outbox.
    fn publish_file(&self, topic: String, file: std::path::PathBuf, offset: u64, len: u64) -> bool {
        use std::io::{Read, Seek, SeekFrom};
        let mut buf = vec![0; len as usize];
        let read = std::fs::File::open(&file).and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            f.read_exact(&mut buf)
        });
        read.is_ok() && self.publish(topic, buf, false)
    }
}

impl Publish for crate::mqtt::UplinkHandle {
    fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) -> bool {
        let class = crate::mqtt::class_of(&topic);
        crate::mqtt::UplinkHandle::publish(self, class, topic, payload, retain)
    }

    fn publish_result(&self, topic: String, payload: Vec<u8>) -> bool {
        self.outbox().push_and_wait(crate::mqtt::class_of(&topic), topic, payload, false)
    }

    fn publish_file(&self, topic: String, file: std::path::PathBuf, offset: u64, len: u64) -> bool {
        self.outbox().push_file(crate::outbox::Class::Image, topic, file, offset, len)
    }
}
