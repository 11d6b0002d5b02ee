pub mod cta;
pub mod mgcp;
