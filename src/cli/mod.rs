pub mod calea;
pub mod cta;
pub mod mgcp;
