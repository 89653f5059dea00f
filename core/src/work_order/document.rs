//! Documents and photos a crew captures, and which ones each kind of work requires.

use serde::{Deserialize, Serialize};

use super::WorkKind;

/// What a photo shows. Required documents are photos of the first three kinds (and of the meter
/// and seal where the work touches a meter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 营业执照.
    BusinessLicence,
    /// 产权证明 / 房产证.
    PropertyCertificate,
    /// 身份证.
    IdCard,
    MeterBefore,
    MeterAfter,
    Seal,
    Site,
    Signature,
    Other,
}

crate::text_enum!(DocumentKind {
    BusinessLicence => "business_licence",
    PropertyCertificate => "property_certificate",
    IdCard => "id_card",
    MeterBefore => "meter_before",
    MeterAfter => "meter_after",
    Seal => "seal",
    Site => "site",
    Signature => "signature",
    Other => "other",
});

impl DocumentKind {
    /// ID cards and property certificates are sensitive personal information (PIPL art. 28).
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            Self::IdCard | Self::PropertyCertificate | Self::BusinessLicence
        )
    }
}

impl WorkKind {
    /// The documents dispatch requires by default for this kind of work; dispatch may add more.
    pub fn default_documents(self) -> &'static [DocumentKind] {
        use DocumentKind::*;
        match self {
            WorkKind::NewConnection => &[IdCard, PropertyCertificate, Site, Signature],
            WorkKind::CapacityIncrease => &[BusinessLicence, PropertyCertificate, Site, Signature],
            WorkKind::MeterInstall => &[MeterAfter, Seal, Signature],
            WorkKind::MeterReplacement => &[MeterBefore, MeterAfter, Seal, Signature],
            WorkKind::MeterRemoval => &[IdCard, PropertyCertificate, MeterBefore, Signature],
            WorkKind::SiteSurvey => &[Site],
            WorkKind::MeterCheck => &[MeterBefore, Seal, Signature],
            WorkKind::FaultRepair => &[Site, Signature],
        }
    }
}
