//! Reading every segment back at start-up. Only a torn last write is repaired; any other damage
//! moves the segment to quarantine and stops start-up, because it may hold acknowledged spans.
//!
//! Why only the newest segment's tail: an append is acknowledged once its whole commit group is
//! written and synced, and the writer only ever appends to the newest segment. A power cut can
//! therefore leave the last group half on disk (cut short, or with pages that never reached the
//! disk read back as zeros or stale bytes), and nothing else. A bad record anywhere else, a bad
//! header on an older segment, or a record that passes its checksum but does not decode, is
//! damage to data that may have been acknowledged.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use super::frame::{self, Decoded, HeaderProblem};
use super::quarantine::{self, QuarantineState};
use super::segment::list_segments;
use crate::durable::sync_dir;
use crate::{StorageError, StorageErrorKind};

/// What replay found, for logs and metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments read.
    pub segments: usize,
    /// Intact records handed to the consumer.
    pub records: u64,
    /// Bytes cut off the newest segment's torn last write.
    pub truncated_bytes: u64,
    /// Highest segment sequence seen; new segments continue after it.
    pub last_sequence: u64,
    /// Damaged segments replayed only as far as they are intact (`--wal-skip-damaged`); their
    /// copies stay in quarantine.
    pub skipped_segments: usize,
    /// Records that passed their checksum but did not decode, skipped under the same flag.
    pub skipped_records: u64,
}

/// How replay treats damage.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReplayOptions {
    /// Start anyway: replay what is intact, keep the damaged segment in quarantine.
    pub skip_damaged: bool,
    /// The most bytes one commit group can put at the end of the newest segment: damage
    /// that starts further from the end than this is not a torn last write.
    pub torn_tail_limit: usize,
}

/// Damage found in a segment.
struct Damage {
    offset: usize,
    reason: String,
    /// A torn last write could look like this (damage to framing, not a record that decodes
    /// wrongly after passing its checksum).
    could_be_torn: bool,
}

/// One segment on its way through replay.
struct Segment<'a> {
    wal_dir: &'a Path,
    sequence: u64,
    path: PathBuf,
    /// `None` for a live segment in the WAL directory.
    quarantined: Option<QuarantineState>,
    /// The newest live segment: the only one whose tail may be a torn write.
    newest: bool,
}

/// Reads every segment (live and quarantined) in sequence order and calls `consume` with each
/// intact record's payload. A `consume` error of kind [`StorageErrorKind::Corrupt`] marks the
/// record as damaged; any other error stops replay.
pub(super) fn replay(
    dir: &Path,
    checkpoint: u64,
    options: ReplayOptions,
    mut consume: impl FnMut(&[u8]) -> Result<(), StorageError>,
) -> Result<ReplayReport, StorageError> {
    let mut report = ReplayReport::default();
    let live = list_segments(dir)?;
    let newest_live = live.last().map(|(sequence, _)| *sequence);
    let mut segments: Vec<Segment<'_>> = live
        .into_iter()
        .map(|(sequence, path)| Segment {
            wal_dir: dir,
            sequence,
            path,
            quarantined: None,
            newest: Some(sequence) == newest_live,
        })
        .collect();
    for (sequence, path, state) in quarantine::list(dir)? {
        segments.push(Segment {
            wal_dir: dir,
            sequence,
            path,
            quarantined: Some(state),
            newest: false,
        });
    }
    segments.sort_by_key(|segment| segment.sequence);
    for segment in segments {
        report.last_sequence = report.last_sequence.max(segment.sequence);
        if segment.sequence <= checkpoint {
            // Published in blocks before the last shutdown or crash. A live segment's deletion
            // did not finish; a quarantined copy is kept for the operator.
            if segment.quarantined.is_none() {
                let path = &segment.path;
                std::fs::remove_file(path).map_err(|e| StorageError::io("remove", path, e))?;
            }
            continue;
        }
        report.segments += 1;
        segment.replay(options, &mut consume, &mut report)?;
    }
    Ok(report)
}

impl Segment<'_> {
    fn replay(
        self,
        options: ReplayOptions,
        consume: &mut impl FnMut(&[u8]) -> Result<(), StorageError>,
        report: &mut ReplayReport,
    ) -> Result<(), StorageError> {
        let tolerate = options.skip_damaged || self.quarantined == Some(QuarantineState::Skipped);
        let bytes =
            std::fs::read(&self.path).map_err(|e| StorageError::io("read", &self.path, e))?;
        let mut first_damage = None;
        let framing = match frame::check_header(&bytes) {
            Ok(()) => {
                let mut on_undecodable = |damage: Damage| {
                    if !tolerate {
                        return Err(damage);
                    }
                    report.skipped_records += 1;
                    first_damage.get_or_insert(damage);
                    Ok(())
                };
                match replay_records(&bytes, consume, &mut report.records, &mut on_undecodable)? {
                    RecordsEnd::Clean => None,
                    RecordsEnd::Framing(damage) => Some(damage),
                    RecordsEnd::Refused(damage) => return self.refuse(damage),
                }
            }
            Err(HeaderProblem::UnsupportedVersion(version)) => {
                return Err(StorageError::Corrupt {
                    path: self.path,
                    what: "WAL segment",
                    reason: format!(
                        "format version {version} is newer than this Combray reads (1)"
                    ),
                });
            }
            Err(problem) => Some(Damage {
                offset: 0,
                reason: format!("segment header: {problem:?}"),
                could_be_torn: problem == HeaderProblem::Torn || bytes.iter().all(|b| *b == 0),
            }),
        };
        if let Some(damage) = framing {
            let tail = bytes.len() - damage.offset;
            if first_damage.is_none()
                && self.newest
                && damage.could_be_torn
                && tail <= options.torn_tail_limit
            {
                return self.repair_torn_tail(damage, bytes.len(), report);
            }
            first_damage.get_or_insert(damage);
        }
        match first_damage {
            None => Ok(()),
            Some(damage) if tolerate => self.skip(damage, report),
            Some(damage) => self.refuse(damage),
        }
    }

    /// Cuts the newest segment back to its last intact record (or removes it if even its header
    /// is incomplete): those bytes were never acknowledged.
    fn repair_torn_tail(
        self,
        damage: Damage,
        len: usize,
        report: &mut ReplayReport,
    ) -> Result<(), StorageError> {
        tracing::warn!(path = %self.path.display(), offset = damage.offset, discarded = len - damage.offset, reason = %damage.reason, "the newest WAL segment ends in a torn write; truncating the torn tail");
        report.truncated_bytes += (len - damage.offset) as u64;
        if damage.offset < frame::HEADER_LEN {
            std::fs::remove_file(&self.path)
                .map_err(|e| StorageError::io("remove", &self.path, e))?;
            return sync_dir(self.wal_dir);
        }
        truncate(&self.path, damage.offset)
    }

    /// Keeps the damaged segment in quarantine, marked as skipped by the operator.
    fn skip(self, damage: Damage, report: &mut ReplayReport) -> Result<(), StorageError> {
        report.skipped_segments += 1;
        let kept = match self.quarantined {
            None => quarantine::admit(
                self.wal_dir,
                &self.path,
                self.sequence,
                QuarantineState::Skipped,
            )?,
            Some(QuarantineState::Refused) => {
                quarantine::mark_skipped(self.wal_dir, &self.path, self.sequence)?
            }
            Some(QuarantineState::Skipped) => self.path.clone(),
        };
        tracing::error!(segment = %self.path.display(), kept = %kept.display(), offset = damage.offset, reason = %damage.reason, "WAL segment is damaged; replayed its intact records only (--wal-skip-damaged), the damaged copy is kept");
        Ok(())
    }

    /// Moves the segment to quarantine (if it is not there yet) and stops start-up.
    fn refuse(self, damage: Damage) -> Result<(), StorageError> {
        let quarantined = match self.quarantined {
            None => quarantine::admit(
                self.wal_dir,
                &self.path,
                self.sequence,
                QuarantineState::Refused,
            )?,
            Some(_) => self.path.clone(),
        };
        Err(StorageError::WalDamaged {
            segment: self.path,
            quarantined,
            offset: damage.offset as u64,
            reason: damage.reason,
        })
    }
}

/// How a segment's records ended.
enum RecordsEnd {
    /// At the end of the file.
    Clean,
    /// At damage to the framing.
    Framing(Damage),
    /// At an undecodable record that `on_undecodable` would not let pass.
    Refused(Damage),
}

/// Hands every intact record to `consume`; an undecodable record goes to `on_undecodable`,
/// which either lets replay go on or hands the damage back to end it.
fn replay_records(
    bytes: &[u8],
    consume: &mut impl FnMut(&[u8]) -> Result<(), StorageError>,
    records: &mut u64,
    on_undecodable: &mut impl FnMut(Damage) -> Result<(), Damage>,
) -> Result<RecordsEnd, StorageError> {
    let mut offset = frame::HEADER_LEN;
    loop {
        let (payload, next_offset) = match frame::decode_record(bytes, offset) {
            Decoded::Record {
                payload,
                next_offset,
            } => (payload, next_offset),
            Decoded::End => return Ok(RecordsEnd::Clean),
            Decoded::Torn => {
                return Ok(RecordsEnd::Framing(Damage {
                    offset,
                    reason: "the segment ends inside a record".into(),
                    could_be_torn: true,
                }))
            }
            Decoded::Corrupt(reason) => {
                return Ok(RecordsEnd::Framing(Damage {
                    offset,
                    reason: reason.into(),
                    could_be_torn: true,
                }))
            }
        };
        match consume(payload) {
            Ok(()) => *records += 1,
            Err(error) if error.kind() == StorageErrorKind::Corrupt => {
                let damage = Damage {
                    offset,
                    reason: format!("record does not decode: {error}"),
                    could_be_torn: false,
                };
                if let Err(damage) = on_undecodable(damage) {
                    return Ok(RecordsEnd::Refused(damage));
                }
            }
            Err(error) => return Err(error),
        }
        offset = next_offset;
    }
}

fn truncate(path: &Path, len: usize) -> Result<(), StorageError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io("open", path, e))?;
    file.set_len(len as u64)
        .map_err(|e| StorageError::io("truncate", path, e))?;
    file.sync_all()
        .map_err(|e| StorageError::io("sync", path, e))
}
