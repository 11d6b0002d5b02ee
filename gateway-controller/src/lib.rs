//! The head-end gateway controller. So far: the escrow store.

pub mod escrow;
