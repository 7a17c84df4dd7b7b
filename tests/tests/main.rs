//! The integration tests, in one test binary (`integration`) so that the workspace is
//! linked into it once: each module below is a suite, run against a local stack of its
//! own per test (`integration_tests::LocalStack`). Run one suite with
//! `cargo test -p integration-tests --test integration <module>::`.

mod api;
mod api_fuzz;
mod api_imports;
mod api_sigv4;
mod branch_model;
mod branch_writes;
mod cancel;
mod catalog;
mod catalog_cli;
mod chaos;
mod cli;
mod credentials;
mod faults;
mod formats;
mod import_local;
mod infra;
mod inventory_reader;
mod layout;
mod notifications;
mod partitioned_commit;
mod pipeline;
mod serve;
mod serve_bad_input;
mod serve_clients;
mod serve_load;
mod serve_source;
mod serve_uploads;
mod sources;
mod ui;
mod ui_browser;
mod ui_import_dialog;
mod ui_imports;
mod validation_errors;
