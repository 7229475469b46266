//! Forwarding for device decorators: the [`crate::BlockDevice`] methods a decorator does not
//! change, passed to the device it wraps, written once.

/// Forward the facts of a block device that a decorator does not change (block size,
/// capacity, length, tolerated failures) to `self.$inner`.
macro_rules! forward_device_facts {
    ($inner:ident) => {
        fn block_size(&self) -> usize {
            self.$inner.block_size()
        }

        fn capacity_blocks(&self) -> u64 {
            self.$inner.capacity_blocks()
        }

        fn len(&self) -> u64 {
            self.$inner.len()
        }

        fn tolerated_failures(&self) -> u64 {
            self.$inner.tolerated_failures()
        }
    };
}

/// Forward the changing methods of a block device (length changes, writes, sync) to
/// `self.$inner`, for decorators that only change how reads are done.
macro_rules! forward_device_changes {
    ($inner:ident) => {
        fn set_len(&self, len: u64) -> Result<(), BlockError> {
            self.$inner.set_len(len)
        }

        fn write_blocks(&self, first: u64, data: &[u8]) -> Result<(), BlockError> {
            self.$inner.write_blocks(first, data)
        }

        fn write_blocks_owned(&self, first: u64, data: Vec<u8>) -> Result<(), BlockError> {
            self.$inner.write_blocks_owned(first, data)
        }

        fn sync(&self) -> Result<(), BlockError> {
            self.$inner.sync()
        }
    };
}

pub(crate) use forward_device_changes;
pub(crate) use forward_device_facts;
