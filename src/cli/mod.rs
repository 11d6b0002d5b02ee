pub mod bench;
pub mod calea;
pub mod controller;
pub mod cta;
pub mod lab;
pub mod mgcp;
