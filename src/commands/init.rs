//! `inferx init`: a wizard that asks for the project's name, model, template, device,
//! thresholds and extras, then creates it with the same code as `template`, `api` and
//! `docker`. Nothing is written before the final "create it?"; the project is assembled in a
//! staging folder and renamed into place, so a cancel or a failure leaves nothing behind.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Instant,
};

use anyhow::{bail, Context};
use dialoguer::{
    theme::{ColorfulTheme, Theme},
    Confirm, Input, Select,
};
use inferx_runtime::{
    device::provider_status,
    library::{self, SystemProbe},
    model::onnx_proto,
    Device, ModelInfo, TaskKind,
};

use crate::{
    cli::InitArgs,
    generator::{self, add_server, changes, deploy, GenerateRequest, Registry, TemplateId},
    output::Printer,
};

/// Devices offered, in the order shown.
const DEVICES: [&str; 9] = ["auto", "cpu", "cuda", "tensorrt", "openvino", "coreml", "directml", "rocm", "webgpu"];

/// Every answer the wizard collects; `--yes` builds it from the flags alone.
#[derive(Debug, Clone, PartialEq)]
struct Answers {
    name: String,
    model: Option<PathBuf>,
    template: TemplateId,
    device: Option<Device>,
    confidence: Option<f64>,
    iou: Option<f64>,
    api: bool,
    docker: bool,
    video: bool,
}

pub(crate) fn run(args: InitArgs, printer: &Printer) -> anyhow::Result<()> {
    let dir = super::folder_or_current(args.dir.clone())?;
    let answers = if args.yes {
        from_flags(&args)?
    } else {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            bail!(
                "`inferx init` asks questions and there is no terminal to ask them on; give the answers as flags with --yes, e.g. `inferx init --yes --name my-detector --model model.onnx --api --docker`"
            );
        }
        let ctrl_c = CtrlC::catch()?;
        let asked = ask(&args, &dir, &ctrl_c);
        // Past the questions, Ctrl-C stops inferx as anywhere else.
        ctrl_c.release();
        // A prompt interrupted (Ctrl-C) or escaped may leave the cursor hidden.
        let _ = dialoguer::console::Term::stderr().show_cursor();
        match asked {
            Ok(Some(answers)) => answers,
            Ok(None) => bail!("cancelled; nothing was written"),
            Err(error) if interrupted(&error) || ctrl_c.pressed() => bail!("cancelled; nothing was written"),
            Err(error) => return Err(error),
        }
    };
    create(&answers, &dir, &args, printer)
}

/// Ctrl-C while the wizard asks. dialoguer reads keys in raw mode and, on Ctrl-C, restores the
/// terminal and raises SIGINT, whose default action would kill inferx with the cursor hidden
/// and nothing said. Caught here, the signal only sets a flag, the prompt returns its
/// "interrupted" error, and the wizard ends as Esc ends it. Once released, SIGINT does what it
/// does by default again.
struct CtrlC {
    pressed: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

impl CtrlC {
    fn catch() -> anyhow::Result<CtrlC> {
        let catcher = CtrlC { pressed: Arc::new(AtomicBool::new(false)), released: Arc::new(AtomicBool::new(false)) };
        #[cfg(unix)]
        {
            use signal_hook::{consts::SIGINT, flag};
            flag::register_conditional_default(SIGINT, catcher.released.clone())
                .and_then(|_| flag::register(SIGINT, catcher.pressed.clone()))
                .context("could not watch for Ctrl-C")?;
        }
        Ok(catcher)
    }

    fn pressed(&self) -> bool {
        self.pressed.load(Ordering::SeqCst)
    }

    /// Fails as a prompt interrupted by Ctrl-C does, when one was pressed between prompts.
    fn check(&self) -> anyhow::Result<()> {
        if self.pressed() {
            return Err(std::io::Error::from(std::io::ErrorKind::Interrupted).into());
        }
        Ok(())
    }

    fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }
}

/// A yes/no question; `None` when it is cancelled (Esc or Ctrl-C). `y` then Enter answers this
/// question alone: without `wait_for_newline`, the Enter answered the next one.
fn ask_yes_no(theme: &ColorfulTheme, prompt: &str, default: bool, ctrl_c: &CtrlC) -> anyhow::Result<Option<bool>> {
    ctrl_c.check()?;
    Ok(Confirm::with_theme(theme).with_prompt(prompt).default(default).wait_for_newline(true).interact_opt()?)
}

/// Asks for a line of text until `check` accepts it. A rejected answer comes back as the
/// editable text of the next try (dialoguer's own validation would erase it).
fn ask_text(
    theme: &ColorfulTheme,
    prompt: &str,
    default: Option<String>,
    initial: Option<String>,
    ctrl_c: &CtrlC,
    check: impl Fn(&str) -> Result<(), String>,
) -> anyhow::Result<String> {
    let mut rejected: Option<String> = None;
    loop {
        ctrl_c.check()?;
        let mut input = Input::<String>::with_theme(theme).with_prompt(prompt).allow_empty(true);
        match &rejected {
            Some(text) => input = input.with_initial_text(text.clone()),
            None => {
                if let Some(default) = &default {
                    input = input.default(default.clone());
                }
                if let Some(initial) = &initial {
                    input = input.with_initial_text(initial.clone());
                }
            }
        }
        let answer = input.interact_text()?;
        match check(&answer) {
            Ok(()) => return Ok(answer),
            Err(reason) => {
                let mut line = String::new();
                theme.format_error(&mut line, &reason)?;
                dialoguer::console::Term::stderr().write_line(&line)?;
                rejected = Some(answer);
            }
        }
    }
}

/// Whether a prompt ended because the user pressed Ctrl-C.
fn interrupted(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(cause.downcast_ref::<dialoguer::Error>(), Some(dialoguer::Error::IO(io)) if io.kind() == std::io::ErrorKind::Interrupted)
    })
}

/// The answers from the flags: the template follows the model's task unless given.
fn from_flags(args: &InitArgs) -> anyhow::Result<Answers> {
    let Some(name) = args.name.clone() else {
        bail!("--yes needs --name (and usually --model): `inferx init --yes --name my-detector --model model.onnx`");
    };
    let model_info = args.model.as_deref().map(read_model).transpose()?;
    let template = match (&args.template, &model_info) {
        (Some(template), _) => template.clone(),
        (None, Some(info)) => generator::template_for_task(info.guess_task())?,
        (None, None) => generator::default_template()?,
    };
    Ok(Answers {
        name,
        model: args.model.clone(),
        template,
        device: args.device,
        confidence: args.confidence,
        iou: args.iou,
        api: args.api || args.docker,
        docker: args.docker,
        video: args.video,
    })
}

fn read_model(path: &Path) -> anyhow::Result<ModelInfo> {
    onnx_proto::read_model_info(path).with_context(|| format!("could not read the model `{}`", path.display()))
}

/// Asks each question, with the flags as defaults. `None` when the user cancels (Esc).
fn ask(args: &InitArgs, dir: &Path, ctrl_c: &CtrlC) -> anyhow::Result<Option<Answers>> {
    let theme = ColorfulTheme::default();
    let force = args.force;
    let name = ask_text(&theme, "Project name", args.name.clone(), None, ctrl_c, |name| {
        generator::check_name(name).map_err(|error| error.to_string())?;
        let target = dir.join(name);
        let occupied = std::fs::read_dir(&target).map(|mut entries| entries.next().is_some()).unwrap_or(false);
        if occupied && !force {
            return Err(format!("{} exists and is not empty (pick another name, or pass --force)", target.display()));
        }
        Ok(())
    })?;

    let model_text = ask_text(
        &theme,
        "ONNX model file (empty: add one to models/ later)",
        None,
        args.model.as_ref().map(|path| path.display().to_string()),
        ctrl_c,
        |text| {
            if text.trim().is_empty() {
                return Ok(());
            }
            onnx_proto::read_model_info(Path::new(text.trim())).map(|_| ()).map_err(|error| error.to_string())
        },
    )?;
    let model = (!model_text.trim().is_empty()).then(|| PathBuf::from(model_text.trim()));
    let info = model.as_deref().map(read_model).transpose()?;
    if let Some(info) = &info {
        let size = info.input_size().map(|(height, width)| format!("{width}x{height}")).unwrap_or("dynamic".into());
        let labels = info.labels().map_or("none".to_string(), |labels| labels.len().to_string());
        eprintln!("  looks like a {} model; input {size}; labels in the model: {labels}", info.guess_task());
    }

    let templates = Registry::global()?.templates();
    let suggested = match (&args.template, &info) {
        (Some(template), _) => template.clone(),
        (None, Some(info)) => generator::template_for_task(info.guess_task())?,
        (None, None) => generator::default_template()?,
    };
    let items: Vec<String> =
        templates.iter().map(|template| format!("{:<15} {}", template.id, template.manifest.description)).collect();
    ctrl_c.check()?;
    let Some(choice) = Select::with_theme(&theme)
        .with_prompt("Template")
        .items(&items)
        .default(templates.iter().position(|template| template.id == suggested).unwrap_or(0))
        .interact_opt()?
    else {
        return Ok(None);
    };
    let template = templates[choice].id.clone();
    let task = templates[choice].manifest.task;

    ctrl_c.check()?;
    let Some(device) = ask_device(&theme, args.device)? else { return Ok(None) };

    let defaults = task.defaults();
    let threshold = |prompt: &str, given: Option<f64>, default: f32| -> anyhow::Result<f64> {
        // The shortest decimal of the f32 default (0.7, not 0.699999988), as `template` writes it.
        let default = given.map_or(default.to_string(), |value| value.to_string());
        let text = ask_text(&theme, prompt, Some(default), None, ctrl_c, |text| match text.trim().parse::<f64>() {
            Ok(value) if (0.0..=1.0).contains(&value) => Ok(()),
            _ => Err("use a value from 0 to 1".to_string()),
        })?;
        Ok(text.trim().parse()?)
    };
    let confidence = match task {
        TaskKind::Detection | TaskKind::Segmentation | TaskKind::Anomaly => {
            Some(threshold("Score threshold", args.confidence, defaults.confidence)?)
        }
        _ => args.confidence,
    };
    let iou = match task {
        TaskKind::Detection => Some(threshold("NMS IoU threshold", args.iou, defaults.iou)?),
        _ => args.iou,
    };

    // Video files go through the detector: asked of detection templates only.
    let video = if task == TaskKind::Detection {
        let prompt = "Read video files too (predict clip.mp4; builds with FFmpeg's libraries)?";
        let Some(video) = ask_yes_no(&theme, prompt, args.video, ctrl_c)? else {
            return Ok(None);
        };
        video
    } else {
        false
    };

    let prompt = "Add the HTTP server (serve, /predict, metrics, OIP v2)?";
    let Some(api) = ask_yes_no(&theme, prompt, args.api || args.docker, ctrl_c)? else {
        return Ok(None);
    };
    let docker = if api {
        let Some(docker) = ask_yes_no(&theme, "Add Docker, compose, Kubernetes and Helm files?", args.docker, ctrl_c)?
        else {
            return Ok(None);
        };
        docker
    } else {
        false
    };

    let answers = Answers { name, model, template, device, confidence, iou, api, docker, video };
    eprintln!("{}", summary(&answers, dir));
    match ask_yes_no(&theme, "Create it?", true, ctrl_c)? {
        Some(true) => Ok(Some(answers)),
        _ => Ok(None),
    }
}

/// The device question, each choice marked with what this machine can do. `Some(None)` is
/// "the template's default".
fn ask_device(theme: &ColorfulTheme, given: Option<Device>) -> anyhow::Result<Option<Option<Device>>> {
    let runtime_found = library::ensure_initialized(None).is_ok();
    let probe = SystemProbe::detect();
    let mut items = vec!["template default".to_string()];
    for name in DEVICES {
        let device: Device = name.parse()?;
        let note = match device.provider() {
            None => "the fastest usable, then CPU".to_string(),
            Some(_) if !runtime_found => "ONNX Runtime not installed; cannot tell".to_string(),
            Some(provider) => {
                let status = provider_status(provider, &probe);
                if status.usable {
                    "usable here".to_string()
                } else {
                    format!("not here: {}", status.reason)
                }
            }
        };
        items.push(format!("{name:<10} {note}"));
    }
    let default = given
        .and_then(|device| DEVICES.iter().position(|name| name.parse::<Device>().ok() == Some(device)))
        .map_or(0, |index| index + 1);
    let Some(choice) = Select::with_theme(theme).with_prompt("Device").items(&items).default(default).interact_opt()?
    else {
        return Ok(None);
    };
    Ok(Some(if choice == 0 { None } else { Some(DEVICES[choice - 1].parse()?) }))
}

fn summary(answers: &Answers, dir: &Path) -> String {
    let optional = |value: Option<f64>| value.map_or("task default".to_string(), |value| value.to_string());
    format!(
        "\n  project     {}\n  model       {}\n  template    {}\n  device      {}\n  confidence  {}\n  iou         {}\n  server      {}\n  deployment  {}\n  video       {}\n",
        dir.join(&answers.name).display(),
        answers.model.as_ref().map_or("none yet".to_string(), |path| path.display().to_string()),
        answers.template,
        answers.device.map_or("template default".to_string(), |device| device.to_string()),
        optional(answers.confidence),
        optional(answers.iou),
        if answers.api { "yes" } else { "no" },
        if answers.docker { "Dockerfile, compose, Kubernetes, Helm" } else { "no" },
        if answers.video { "yes (FFmpeg's libraries)" } else { "no" },
    )
}

/// Creates the project in a staging folder next to its destination (the same code paths as
/// `template` and `docker`), then renames it into place.
fn create(answers: &Answers, dir: &Path, args: &InitArgs, printer: &Printer) -> anyhow::Result<()> {
    let started = Instant::now();
    let target = dir.join(&answers.name);
    generator::check_name(&answers.name)?;
    std::fs::create_dir_all(dir).with_context(|| format!("could not create `{}`", dir.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".inferx-init-")
        .tempdir_in(dir)
        .with_context(|| format!("could not create a staging folder in `{}`", dir.display()))?;
    // Refuse an occupied destination before doing any work.
    generator::check_destination(&target, args.force)?;
    let request = GenerateRequest {
        template: answers.template.clone(),
        name: answers.name.clone(),
        model: answers.model.clone(),
        dir: staging.path().to_path_buf(),
        device: answers.device,
        force: false,
        api: answers.api,
        video: answers.video,
        confidence: answers.confidence,
        iou: answers.iou,
    };
    let staged = generator::generate(&request)?;
    if answers.docker {
        let project = add_server::read_project(&staged)?;
        let changes = deploy::plan(&project, &deploy::DeployOptions::default())?;
        changes::apply(&staged, &changes)?;
        if !args.skip_runtime {
            super::docker::install_runtime(&staged, false, printer)?;
        }
    }
    generator::move_into_place(&staged, &target, args.force)?;
    printer.status(format!(
        "created `{}` from template `{}` in {:.0} ms",
        target.display(),
        answers.template,
        started.elapsed().as_secs_f64() * 1e3
    ));
    if !args.no_git {
        super::template::init_repository(&target, answers.template.as_str(), printer);
    }
    let run = if answers.api { "serve" } else { "predict samples/sample.jpg" };
    let model_hint = if answers.model.is_some() { "" } else { "\n  cp /path/to/model.onnx models/model.onnx" };
    printer.status(format!(
        "next:\n  cd {}{model_hint}\n  inferx validate\n  cargo run --release -- {run}",
        target.display()
    ));
    Ok(())
}
