//! The lab: experiments that play both sides (key holder and node) in one process.
