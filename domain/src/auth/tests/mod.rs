//! The auth namespace's tests that span several files: audited apply end to end, and the
//! role × operation table.

mod audited;
mod role_table;
