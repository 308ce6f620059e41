//! fieldledger-ffi: the core of fieldledger for Android (Kotlin) and iOS (Swift) apps, through
//! uniffi.
//!
//! The app opens a [`FieldStore`], enrolls it with a relay, creates and edits records offline
//! and syncs when it can. Objects wrap core objects, records are flat, and every failure is
//! one [`FfiError`] mapped from the core's errors in `error.rs`. Every call is blocking and
//! safe from any thread; run `sync` off the main thread.

uniffi::setup_scaffolding!();

pub mod error;
pub mod export;
pub mod fields;
pub mod people;
pub mod records;
pub mod store;
pub mod sync;
pub mod workflow;

pub use error::{FfiError, Result};
pub use export::{CampaignInfo, CampaignRoundInfo, LedgerFormat};
pub use fields::{ChoiceInfo, EntryFieldInfo, FieldInfo, FieldKind, FieldPair, record_fields};
pub use people::UserInfo;
pub use records::{
    ConflictRecord, ConflictValueRecord, DemandRecord, DisputeQuery, DisputeRecord, HistoryRecord,
    Identity, MeasureRecord, PetitionRecord, ProgressRecord, RecordKind, RecordSummary, RiskRecord,
    ScreeningRecord, SignOffRecord, VisitRecord,
};
pub use store::FieldStore;
pub use sync::{SyncProgress, SyncProgressListener, SyncRejection, SyncReport};
pub use workflow::{
    InspectionRecord, MonthlyReportRecord, ProblemRecord, UnitProfileRecord, VisitTargetRecord,
};
