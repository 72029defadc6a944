//! Dataset names (`namespace.project.name`) and version specs (`NAME@V`).

use std::fmt;

/// Why a dataset name, tag or version spec is not valid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("`{text}` is not a valid dataset name: {rule}")]
    BadName { text: String, rule: &'static str },
    #[error("`{text}` is not a valid tag: {rule}")]
    BadTag { text: String, rule: &'static str },
    #[error(
        "`{text}` is not a valid version: expected a semver (1.2.3), a tag, `latest` or a commit id prefix"
    )]
    BadVersion { text: String },
}

const NAME_RULE: &str = "use `[namespace.[project.]]name`, each part lowercase letters, digits, `_` or `-`, starting with a letter or digit";
const TAG_RULE: &str =
    "use lowercase letters, digits, `.`, `_` or `-`, starting with a letter; not `latest`";

/// A dataset's full name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatasetName {
    pub namespace: String,
    pub project: String,
    pub name: String,
}

/// Defaults for the parts a short name leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameDefaults {
    pub namespace: String,
    pub project: String,
}

impl Default for NameDefaults {
    fn default() -> Self {
        NameDefaults {
            namespace: "local".into(),
            project: "default".into(),
        }
    }
}

fn is_part(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && text.len() <= 128
}

impl DatasetName {
    /// Parses `name`, `project.name` or `namespace.project.name`.
    pub fn parse(text: &str, defaults: &NameDefaults) -> Result<DatasetName, NameError> {
        let bad = || NameError::BadName {
            text: text.to_string(),
            rule: NAME_RULE,
        };
        let parts: Vec<&str> = text.split('.').collect();
        if parts.iter().any(|part| !is_part(part)) {
            return Err(bad());
        }
        let (namespace, project, name) = match parts.as_slice() {
            [name] => (
                defaults.namespace.as_str(),
                defaults.project.as_str(),
                *name,
            ),
            [project, name] => (defaults.namespace.as_str(), *project, *name),
            [namespace, project, name] => (*namespace, *project, *name),
            _ => return Err(bad()),
        };
        Ok(DatasetName {
            namespace: namespace.to_string(),
            project: project.to_string(),
            name: name.to_string(),
        })
    }

    /// Parses a full name as stored in refs; all three parts must be present.
    pub fn parse_full(text: &str) -> Result<DatasetName, NameError> {
        if text.split('.').count() != 3 {
            return Err(NameError::BadName {
                text: text.to_string(),
                rule: NAME_RULE,
            });
        }
        DatasetName::parse(text, &NameDefaults::default())
    }

    /// The ref prefix of this dataset: `datasets/<ns>/<project>/<name>/`.
    pub fn ref_prefix(&self) -> String {
        format!(
            "datasets/{}/{}/{}/",
            self.namespace, self.project, self.name
        )
    }

    /// The ref name of a version of this dataset.
    pub fn version_ref(&self, version: &semver::Version) -> String {
        format!("{}versions/{version}", self.ref_prefix())
    }

    /// The ref name of a tag of this dataset.
    pub fn tag_ref(&self, tag: &str) -> String {
        format!("{}tags/{tag}", self.ref_prefix())
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.namespace, self.project, self.name)
    }
}

/// Checks a tag name.
pub fn check_tag(text: &str) -> Result<(), NameError> {
    let mut chars = text.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' || c == '.'
        })
        && text.len() <= 128
        && text != "latest";
    if ok {
        Ok(())
    } else {
        Err(NameError::BadTag {
            text: text.to_string(),
            rule: TAG_RULE,
        })
    }
}

/// What follows the `@` in `NAME@V`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Semver(semver::Version),
    /// A tag name or a commit id prefix: tags are tried first.
    TagOrPrefix(String),
}

impl VersionSpec {
    /// Parses what follows `@`: `latest`, a semver version, or a tag or commit id prefix.
    pub fn parse(text: &str) -> Result<VersionSpec, NameError> {
        if text == "latest" {
            return Ok(VersionSpec::Latest);
        }
        if let Ok(version) = semver::Version::parse(text) {
            return Ok(VersionSpec::Semver(version));
        }
        let is_prefix =
            text.len() >= 4 && text.len() <= 64 && text.chars().all(|c| c.is_ascii_hexdigit());
        if is_prefix || check_tag(text).is_ok() {
            return Ok(VersionSpec::TagOrPrefix(text.to_ascii_lowercase()));
        }
        Err(NameError::BadVersion {
            text: text.to_string(),
        })
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSpec::Latest => f.write_str("latest"),
            VersionSpec::Semver(version) => write!(f, "{version}"),
            VersionSpec::TagOrPrefix(text) => f.write_str(text),
        }
    }
}

/// `NAME[@V]` as a user typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRef {
    pub name: DatasetName,
    pub version: VersionSpec,
}

impl DatasetRef {
    /// Parses `NAME` or `NAME@SPEC`; a name without `@` means its latest version.
    pub fn parse(text: &str, defaults: &NameDefaults) -> Result<DatasetRef, NameError> {
        let (name, version) = match text.split_once('@') {
            Some((name, version)) => (name, VersionSpec::parse(version)?),
            None => (text, VersionSpec::Latest),
        };
        Ok(DatasetRef {
            name: DatasetName::parse(name, defaults)?,
            version,
        })
    }
}

impl fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DatasetName, NameError> {
        DatasetName::parse(text, &NameDefaults::default())
    }

    #[test]
    fn short_names_take_defaults() {
        assert_eq!(parse("photos").unwrap().to_string(), "local.default.photos");
        assert_eq!(
            parse("vision.clips").unwrap().to_string(),
            "local.vision.clips"
        );
        assert_eq!(
            parse("team.vision.clips").unwrap().to_string(),
            "team.vision.clips"
        );
    }

    #[test]
    fn bad_names_state_the_rule() {
        for text in ["", "Photos", "a..b", "a.b.c.d", "-x", "a b", "ph/otos", "é"] {
            let err = parse(text).unwrap_err();
            assert!(
                err.to_string().contains("lowercase letters"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn version_specs() {
        let defaults = NameDefaults::default();
        let spec = |text: &str| DatasetRef::parse(text, &defaults).unwrap().version;
        assert_eq!(spec("photos"), VersionSpec::Latest);
        assert_eq!(spec("photos@latest"), VersionSpec::Latest);
        assert_eq!(
            spec("photos@1.0.2"),
            VersionSpec::Semver(semver::Version::new(1, 0, 2))
        );
        assert_eq!(
            spec("photos@golden"),
            VersionSpec::TagOrPrefix("golden".into())
        );
        assert_eq!(
            spec("photos@AB12cd"),
            VersionSpec::TagOrPrefix("ab12cd".into())
        );
        assert!(DatasetRef::parse("photos@1.0", &defaults).is_err());
        assert!(DatasetRef::parse("photos@Gold!", &defaults).is_err());
    }

    #[test]
    fn tags() {
        assert!(check_tag("golden").is_ok());
        assert!(check_tag("v1.2").is_ok());
        assert!(check_tag("latest").is_err());
        assert!(check_tag("1.0.0").is_err());
        assert!(check_tag("Prod").is_err());
    }
}
