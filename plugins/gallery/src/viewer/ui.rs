//! The egui panels: toolbar, search and filters, periods, the selected work.

use super::*;

pub(crate) fn thumb_image(g: &Gallery, i: usize, tier: usize, height: f32) -> Option<egui::Image<'static>> {
    let r = g.manifest.works[i].thumbs.get(tier)?;
    let id = *g.egui_textures.get(tier)?.get(r.atlas as usize)?;
    let [aw, ah] = g.manifest.tiers[tier].atlas_sizes[r.atlas as usize];
    let uv = egui::Rect::from_min_max(
        egui::pos2(r.rect[0] as f32 / aw as f32, r.rect[1] as f32 / ah as f32),
        egui::pos2((r.rect[0] + r.rect[2]) as f32 / aw as f32, (r.rect[1] + r.rect[3]) as f32 / ah as f32),
    );
    let w = height * r.rect[2] as f32 / r.rect[3].max(1) as f32;
    Some(egui::Image::new((id, egui::vec2(w, height))).uv(uv))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn ui(
    mut contexts: EguiContexts,
    gallery: Option<ResMut<Gallery>>,
    loading: Option<Res<Loading>>,
    diagnostics: Option<Res<DiagnosticsStore>>,
    rig: Query<&Transform, With<Rig>>,
    mut live: ResMut<LiveRelayout>,
    mut likeness: ResMut<Likeness>,
    keys: Res<ButtonInput<KeyCode>>,
    (images, mut become_painting): (Res<Assets<Image>>, MessageWriter<BecomePainting>),
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let Some(mut g) = gallery else {
        let msg = match loading.as_deref() {
            Some(Loading { error: Some(e), .. }) => format!("Cannot open the gallery: {e}\n\nEsc: back to the menu."),
            Some(l) => {
                let (done, all) = (l.progress.0.load(Ordering::Relaxed), l.progress.1.load(Ordering::Relaxed));
                format!("Loading {} … ({done} of {} files)", l.path.display(), all.max(1))
            }
            None => "Loading …".into(),
        };
        egui::Area::new("gallery_loading".into()).anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0]).show(&ctx, |ui| {
            ui.label(egui::RichText::new(msg).size(18.0).color(egui::Color32::WHITE));
        });
        return Ok(());
    };
    let g = &mut *g;
    let hi = g.manifest.tiers.len().saturating_sub(1);
    let mut jump: Option<usize> = None;
    // Toolbar: layouts, search, filters, periods.
    egui::Window::new(format!("{} — {} works", g.manifest.name, g.manifest.works.len()))
        .anchor(egui::Align2::LEFT_TOP, [10.0, 10.0])
        .default_width(300.0)
        .resizable(false)
        .show(&ctx, |ui| {
            ui.horizontal_wrapped(|ui| {
                for (k, l) in Layout::ALL.iter().enumerate() {
                    if !l.available(&g.manifest) {
                        continue;
                    }
                    if ui.selectable_label(g.layout == *l, format!("{} {}", k + 1, l.label())).clicked() {
                        set_layout(g, *l);
                    }
                }
            });
            if let Some(engine) = live.available.clone() {
                ui.horizontal(|ui| {
                    if live.running {
                        ui.add(egui::ProgressBar::new(live.iteration as f32 / live.total.max(1) as f32).text(format!(
                            "t-SNE forming: {}/{}",
                            live.iteration, live.total
                        )));
                    } else if ui
                        .button("relayout live")
                        .on_hover_text(format!(
                            "re-run t-SNE from scratch on the similar-works graph and watch the map form ({engine})"
                        ))
                        .clicked()
                    {
                        live.requested = true;
                    }
                });
            }
            // Below "relayout live", which keeps its place (the web page test presses it there).
            if let Some(f) = &g.manifest.faces {
                let label = format!("painted faces like mine (L) — {} faces", f.faces.len());
                if ui.selectable_label(likeness.open, label).clicked() {
                    likeness.open = !likeness.open;
                }
            }
            ui.separator();
            let before = g.filter.clone();
            ui.horizontal(|ui| {
                ui.label("search");
                ui.text_edit_singleline(&mut g.filter.text);
            });
            let (y0, y1) = g.years;
            let mut on = g.filter.years.is_some();
            let (mut a, mut b) = g.filter.years.unwrap_or((y0, y1));
            ui.horizontal(|ui| {
                ui.checkbox(&mut on, "years");
                ui.add(egui::DragValue::new(&mut a).range(y0..=y1));
                ui.label("–");
                ui.add(egui::DragValue::new(&mut b).range(y0..=y1));
            });
            g.filter.years = on.then_some((a.min(b), a.max(b)));
            let combo = |ui: &mut egui::Ui, label: &str, value: &mut Option<String>, options: &[(String, usize)]| {
                egui::ComboBox::from_label(label).selected_text(value.clone().unwrap_or_else(|| "any".into())).width(200.0).show_ui(ui, |ui| {
                    ui.selectable_value(value, None, "any");
                    for (o, c) in options {
                        ui.selectable_value(value, Some(o.clone()), format!("{o} ({c})"));
                    }
                });
            };
            combo(ui, "museum", &mut g.filter.museum, &g.museums);
            combo(ui, "medium", &mut g.filter.medium, &g.media);
            if g.filter != before {
                g.mask = g.filter.apply(&g.manifest);
                g.dirty = true;
            }
            if g.filter.is_active() {
                ui.horizontal(|ui| {
                    ui.label(format!("{} match", g.mask.iter().filter(|&&m| m).count()));
                    if ui.button("clear").clicked() {
                        g.filter = Filter::default();
                        g.mask = vec![true; g.mask.len()];
                        g.dirty = true;
                    }
                });
            }
            ui.separator();
            ui.horizontal(|ui| {
                ui.label("periods");
                for (k, label) in [(PeriodKind::Century, "century"), (PeriodKind::Decade, "decade")] {
                    if ui.selectable_label(g.period_kind == k, label).clicked() {
                        g.period_kind = k;
                        g.period = largest_period(&g.manifest.periods, k);
                    }
                }
            });
            let list: Vec<usize> =
                g.manifest.periods.iter().enumerate().filter(|(_, p)| p.kind == g.period_kind && p.count >= 3).map(|(i, _)| i).collect();
            if !list.is_empty() {
                let cur = list.get(g.period).copied().unwrap_or(list[0]);
                egui::ComboBox::from_id_salt("period")
                    .selected_text(format!("{} ({})", g.manifest.periods[cur].label, g.manifest.periods[cur].count))
                    .show_ui(ui, |ui| {
                        for (k, &p) in list.iter().enumerate() {
                            let per = &g.manifest.periods[p];
                            if ui.selectable_label(k == g.period, format!("{} ({})", per.label, per.count)).clicked() {
                                g.period = k;
                            }
                        }
                    });
                let per = g.manifest.periods[cur].clone();
                for (title, items) in [("typical", &per.typical), ("outliers", &per.outliers)] {
                    ui.label(title);
                    egui::ScrollArea::horizontal().id_salt(title).show(ui, |ui| {
                        ui.horizontal(|ui| {
                            for &i in items.iter() {
                                if let Some(img) = thumb_image(g, i as usize, 0, 44.0) {
                                    let resp = ui.add(egui::Button::image(img)).on_hover_text(&g.manifest.works[i as usize].meta.title);
                                    if resp.clicked() {
                                        jump = Some(i as usize);
                                    }
                                }
                            }
                        });
                    });
                }
            }
            ui.separator();
            if let Some(ms) = diagnostics.as_ref().and_then(|d| d.get(&FrameTimeDiagnosticsPlugin::FRAME_TIME)).and_then(|d| d.smoothed()) {
                ui.label(egui::RichText::new(format!("frame {ms:.1} ms")).color(egui::Color32::GRAY));
            }
            ui.label(
                egui::RichText::new(
                    if g.manifest.faces.is_some() {
                        "WASD/QE fly · right-drag or arrows look · wheel zoom · O orbit · click a work · F select centre · N/B similar · G go · 1–5 layouts (5: face map; click a face to fly to its work) · L faces like mine · Esc menu"
                    } else {
                        "WASD/QE fly · right-drag or arrows look · wheel zoom · O orbit · click a work · F select centre · N/B similar · G go · 1–4 layouts · Esc menu"
                    },
                )
                .small()
                .color(egui::Color32::GRAY),
            );
        });
    // Hover label.
    if let Some(i) = g.hovered {
        let w = &g.manifest.works[i];
        if let Some(p) = ctx.pointer_hover_pos() {
            egui::Area::new(egui::Id::new("gallery_hover"))
                .order(egui::Order::Tooltip)
                .fixed_pos(p + egui::vec2(18.0, 18.0))
                .interactable(false)
                .show(&ctx, |ui| {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        if let Some(img) = thumb_image(g, i, hi, 160.0) {
                            ui.add(img);
                        }
                        ui.label(egui::RichText::new(&w.meta.title).strong());
                        let year = w.meta.year.map(|y| y.to_string()).unwrap_or_default();
                        ui.label(format!("{} {}", w.meta.artist, year));
                        if g.hovered_face.is_some() {
                            ui.label(egui::RichText::new("click: fly to this work in the work map").small());
                        }
                    });
                });
        }
    }
    // The selected work.
    if let Some(sel) = g.selected {
        let mut open = true;
        let w = g.manifest.works[sel].clone();
        egui::Window::new(if w.meta.title.is_empty() { w.file.clone() } else { w.meta.title.clone() })
            .id(egui::Id::new("gallery_work"))
            .anchor(egui::Align2::RIGHT_TOP, [-10.0, 10.0])
            .default_width(320.0)
            .open(&mut open)
            .show(&ctx, |ui| {
                if let Some(img) = thumb_image(g, sel, hi, 260.0) {
                    let shown = ui.add(img).rect;
                    // The faces found in the work, outlined.
                    if let Some(f) = &g.manifest.faces {
                        let (sx, sy) =
                            (shown.width() / w.size[0].max(1) as f32, shown.height() / w.size[1].max(1) as f32);
                        for i in f.in_work(sel as u32) {
                            let b = f.faces[i].bbox;
                            let r = egui::Rect::from_min_max(
                                shown.min + egui::vec2(b[0] * sx, b[1] * sy),
                                shown.min + egui::vec2(b[2] * sx, b[3] * sy),
                            );
                            ui.painter().rect_stroke(
                                r,
                                2.0,
                                egui::Stroke::new(2.0, egui::Color32::from_rgb(255, 200, 40)),
                                egui::StrokeKind::Outside,
                            );
                        }
                    }
                }
                egui::Grid::new("work_meta").num_columns(2).show(ui, |ui| {
                    for (k, v) in [
                        ("artist", w.meta.artist.clone()),
                        ("year", w.meta.year.map(|y| y.to_string()).unwrap_or_default()),
                        ("date", w.meta.date.clone()),
                        ("medium", w.meta.medium.clone()),
                        ("museum", w.meta.museum.clone()),
                        ("file", w.file.clone()),
                    ] {
                        if !v.is_empty() {
                            ui.label(k);
                            ui.label(v);
                            ui.end_row();
                        }
                    }
                });
                if !w.meta.source_url.is_empty() {
                    ui.hyperlink_to("source", &w.meta.source_url);
                }
                if let Some(t) = w.typicality {
                    ui.label(format!("typicality in its century: {t:.2} (1 = usual, higher = outlier)"));
                }
                if ui.button("go to (G)").clicked() {
                    jump = Some(sel);
                }
                // Wear a face of this painting in Face Lab's face swap.
                let in_work: Vec<usize> =
                    g.manifest.faces.as_ref().map(|f| f.in_work(sel as u32).collect()).unwrap_or_default();
                for (n, &k) in in_work.iter().enumerate() {
                    let label = if in_work.len() == 1 {
                        "become this painting (Face Lab)".to_string()
                    } else {
                        format!("become face {} of this painting (Face Lab)", n + 1)
                    };
                    if ui.button(label).on_hover_text("Face Lab's face swap, with this painted face on yours").clicked()
                    {
                        match g.painted_face(&images, k) {
                            Some(p) => {
                                become_painting.write(BecomePainting(p));
                            }
                            None => warn!("gallery: face {k} could not be cut from its atlas"),
                        }
                    }
                }
                ui.label("similar works (N)");
                ui.horizontal_wrapped(|ui| {
                    for &j in &w.similar {
                        if let Some(img) = thumb_image(g, j as usize, 0, 56.0)
                            && ui
                                .add(egui::Button::image(img))
                                .on_hover_text(&g.manifest.works[j as usize].meta.title)
                                .clicked()
                        {
                            jump = Some(j as usize);
                        }
                    }
                });
            });
        if !open {
            g.selected = None;
        }
    }
    if g.manifest.faces.is_some() && keys.just_pressed(KeyCode::KeyL) && !ctx.egui_wants_keyboard_input() {
        likeness.open = !likeness.open;
    }
    // A painted face clicked in the panel: in the face map, fly to that face; elsewhere to its work.
    let mut face_jump = None;
    match likeness.open.then(|| likeness_panel(&ctx, g, &mut likeness)).flatten() {
        Some(Pick::Fly(k)) if g.layout == Layout::Faces => face_jump = Some(k),
        Some(Pick::Fly(k)) => jump = g.manifest.faces.as_ref().map(|f| f.faces[k].work as usize),
        Some(Pick::Become(k)) => match g.painted_face(&images, k) {
            Some(p) => {
                become_painting.write(BecomePainting(p));
            }
            None => warn!("gallery: face {k} could not be cut from its atlas"),
        },
        None => {}
    }
    if let Some(k) = face_jump
        && let Ok(t) = rig.single()
    {
        go_to_face(g, t, k);
    }
    if let Some(j) = jump
        && let Ok(t) = rig.single()
    {
        go_to(g, t, j);
    }
    Ok(())
}
