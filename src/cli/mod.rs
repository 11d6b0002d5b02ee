pub mod audit;
pub mod ca;
pub mod calea;
pub mod calea_li;
pub mod controller;
pub mod cta;
pub mod lab;
pub mod mgcp;
