//! Where the lane's messages go: [`Publish`], implemented by the agent's
//! outbox and uplink and by collectors in tests. The lane's outlet (and the
//! audit writer, for its checkpoints and alarm) are the only callers, so
//! everything the lane sends leaves in one order. Each message carries its
//! delivery class from where it is made ([`Message`]).

use crate::outbox::Message;

/// Where the lane's messages go: the outbox and uplink in the agent, a
/// collector in tests.
pub trait Publish: Send + Sync + 'static {
    /// Queues a message: stored, then sent when the link allows.
    fn publish(&self, message: Message) -> bool;

    /// Publishes a result and returns only once it is stored for good, with
    /// everything published before it.
    fn publish_durable(&self, message: Message) -> bool {
        self.publish(message)
    }
}

impl Publish for crate::mqtt::UplinkHandle {
    fn publish(&self, message: Message) -> bool {
        crate::mqtt::UplinkHandle::publish(self, message)
    }

    fn publish_durable(&self, message: Message) -> bool {
        self.outbox().push_and_wait(message)
    }
}
