//! The bounded label values of packet and transaction metrics.

/// Which packet message was relayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PacketKind {
    Recv,
    Ack,
    Timeout,
}

impl PacketKind {
    pub fn label(self) -> &'static str {
        match self {
            PacketKind::Recv => "recv",
            PacketKind::Ack => "ack",
            PacketKind::Timeout => "timeout",
        }
    }
}

/// Why a transaction failed, as a bounded label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxErrorKind {
    SequenceMismatch,
    OutOfGas,
    InsufficientFee,
    Simulation,
    Rpc,
    Timeout,
    Rejected,
    Other,
}

impl TxErrorKind {
    pub const ALL: [TxErrorKind; 8] = [
        TxErrorKind::SequenceMismatch,
        TxErrorKind::OutOfGas,
        TxErrorKind::InsufficientFee,
        TxErrorKind::Simulation,
        TxErrorKind::Rpc,
        TxErrorKind::Timeout,
        TxErrorKind::Rejected,
        TxErrorKind::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TxErrorKind::SequenceMismatch => "sequence_mismatch",
            TxErrorKind::OutOfGas => "out_of_gas",
            TxErrorKind::InsufficientFee => "insufficient_fee",
            TxErrorKind::Simulation => "simulation",
            TxErrorKind::Rpc => "rpc",
            TxErrorKind::Timeout => "timeout",
            TxErrorKind::Rejected => "rejected",
            TxErrorKind::Other => "other",
        }
    }
}
