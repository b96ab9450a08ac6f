//! The registry protocol against the real distribution registry: the transport through the
//! library API, how many requests a command costs, faults injected between the tool and the
//! registry, and peers that stall or never answer.

mod faults;
mod requests;
mod stalls;
mod transport;
