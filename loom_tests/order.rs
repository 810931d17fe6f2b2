//! Models of the commit-order merge (`kvs::server::order`).
