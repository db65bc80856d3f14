pub mod mmdb;
