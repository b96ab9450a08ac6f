//! `manifest verify IMAGE_OR_LIST`

use super::store_inputs::StoreInputs;
use super::{runtime, Ctx};
use crate::cli::progress::Progress;
use crate::cli::{VerifyArgs, VerifyFormat};
use crate::model::platform::PlatformFilter;
use crate::model::reference::{is_explicit_image, parse_image, ImageRef};
use crate::store::StoreError;
use crate::transport::open::Transports;
use crate::verify::{verify, Report, Subject, VerifyOptions};
use anyhow::{bail, Context, Result};
use std::sync::Arc;

/// Checks a local list or a published image and prints what it found; `Ok(false)` when a
/// problem was found. A check that could not finish is an error (with `--format json`, a
/// document with `"ok": false` and the error is printed first).
pub fn run(ctx: &mut Ctx, args: VerifyArgs) -> Result<bool> {
    let outcome = check(ctx, &args);
    let json = args.format == VerifyFormat::Json;
    match outcome {
        Ok(report) => {
            let shown = if json {
                report.json(None)
            } else {
                report.text()
            };
            ctx.out.write_all(shown.as_bytes())?;
            Ok(report.ok())
        }
        Err(error) => {
            if json {
                let failed = Report::failed(&args.target, args.deep);
                ctx.out
                    .write_all(failed.json(Some(&format!("{error:#}"))).as_bytes())?;
            }
            Err(error)
        }
    }
}

fn check(ctx: &mut Ctx, args: &VerifyArgs) -> Result<Report> {
    let registry = ctx.registry(&args.registry)?;
    let options = VerifyOptions {
        deep: args.deep,
        required_platforms: match args.require_platform.as_slice() {
            [] => None,
            given => Some(PlatformFilter::parse(given)?),
        },
        required_referrers: args.require_referrer.clone(),
        jobs: args.jobs as usize,
    };
    let store = ctx.store()?;
    let transports = ctx.transports(registry);
    let rt = runtime()?;
    let subject = match store.find(&args.target) {
        Ok(list) => rt.block_on(Subject::of_list(
            &transports,
            &StoreInputs::new(&store),
            &list.name,
            &list.list.index,
            &list.list.sources,
        ))?,
        Err(StoreError::NotFound(name)) => {
            if !is_explicit_image(&args.target) {
                bail!(
                    "{name}: image not known (no local list by that name; to verify an image, \
                     give its registry (docker://REGISTRY/REPO:TAG) or a layout (oci:DIR))"
                );
            }
            let image = parse_image(&args.target)?;
            rt.block_on(of_image(&transports, &image))?
        }
        Err(e) => return Err(e.into()),
    };
    let progress = Arc::new(Progress::new(args.quiet || !args.deep).doing("Checking"));
    let report = rt.block_on(verify(&subject, &options, progress.clone()));
    progress.finish();
    Ok(report?)
}

/// The image or index `image` names, read where it was published: the registry as named (not
/// a mirror registries.conf lists for pulls), the layout as it is.
async fn of_image(transports: &Transports, image: &ImageRef) -> Result<Subject> {
    let opened = match image {
        ImageRef::Storage(_) => transports.open_read(image).await,
        _ => transports.open_probe(image).await,
    };
    let (transport, reference) = opened.with_context(|| format!("opening {image}"))?;
    Ok(Subject::of_reference(transport, &reference, &image.to_string()).await?)
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
