pub mod mgcp;
