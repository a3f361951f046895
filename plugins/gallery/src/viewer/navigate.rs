//! Flying, orbiting, layouts and transitions, hovering and picking.

use super::*;

/// Selects a work and flies the camera to it (in the face map: to its first face).
pub(crate) fn go_to(g: &mut Gallery, rig: &Transform, i: usize) {
    g.selected = Some(i);
    let p = g.focus_of(i);
    fly(g, rig, p);
}

fn fly(g: &mut Gallery, rig: &Transform, p: Vec3) {
    let back = rig.rotation * Vec3::Z;
    g.flight = Some(Flight { from: rig.translation, to: p + back * 2.2, t: 0.0 });
}

/// Face `k` of the face map: selects its work and flies to the face.
pub(crate) fn go_to_face(g: &mut Gallery, rig: &Transform, k: usize) {
    let Some(work) = g.manifest.faces.as_ref().and_then(|f| f.faces.get(k)).map(|f| f.work as usize) else { return };
    g.selected = Some(work);
    if let Some(p) = g.face_positions.get(k).copied() {
        fly(g, rig, Vec3::from(p));
    }
}

/// From a face in the face map to its work in the work map: the 3D map, then a flight to the work.
pub(crate) fn face_to_work(g: &mut Gallery, rig: &Transform, k: usize) {
    let Some(work) = g.manifest.faces.as_ref().and_then(|f| f.faces.get(k)).map(|f| f.work as usize) else { return };
    set_layout(g, Layout::Map3d);
    go_to(g, rig, work);
}

/// What lies along a ray: (work, face) — in the face map the face hit and its work, elsewhere the
/// work hit.
pub(crate) fn pick_at(g: &Gallery, origin: Vec3, dir: Vec3, right: Vec3, up: Vec3) -> Option<(usize, Option<usize>)> {
    if g.layout == Layout::Faces {
        let f = g.manifest.faces.as_ref()?;
        let mask = face_mask(g);
        let (k, _) = view::pick(origin.into(), dir.into(), right.into(), up.into(), &face_quads(g), mask.as_deref())?;
        return Some((f.faces[k].work as usize, Some(k)));
    }
    let pickable = g.filter.is_active().then_some(g.mask.as_slice());
    let (i, _) = view::pick(origin.into(), dir.into(), right.into(), up.into(), &quads(g), pickable)?;
    Some((i, None))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn navigate(
    time: Res<Time>,
    keys: Res<ButtonInput<KeyCode>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    gallery: Option<ResMut<Gallery>>,
    mut rig: Query<&mut Transform, With<Rig>>,
    mut contexts: Option<EguiContexts>,
) {
    let Some(mut g) = gallery else { return };
    let Ok(mut t) = rig.single_mut() else { return };
    let typing = contexts.as_mut().and_then(|c| c.ctx_mut().ok()).is_some_and(|c| c.egui_wants_keyboard_input());
    let over_ui = contexts
        .as_mut()
        .and_then(|c| c.ctx_mut().ok())
        .is_some_and(|c| c.egui_wants_pointer_input() || c.is_pointer_over_egui());
    let dt = time.delta_secs().min(0.1);
    if !typing {
        // Layouts: 1–5 (5, the face map, where the manifest has faces).
        let digits = [KeyCode::Digit1, KeyCode::Digit2, KeyCode::Digit3, KeyCode::Digit4, KeyCode::Digit5];
        for (key, layout) in digits.iter().zip(Layout::ALL) {
            if keys.just_pressed(*key) && layout.available(&g.manifest) {
                set_layout(&mut g, layout);
            }
        }
        if keys.just_pressed(KeyCode::KeyO) {
            g.orbit = !g.orbit;
        }
        // Keyboard-only selection: F picks the work at the centre of the view; N / B step through
        // its similar works; G flies to the selection; X closes it.
        if keys.just_pressed(KeyCode::KeyF)
            && let Some((i, _)) =
                pick_at(&g, t.translation, t.rotation * -Vec3::Z, t.rotation * Vec3::X, t.rotation * Vec3::Y)
        {
            g.selected = Some(i);
        }
        if let Some(sel) = g.selected {
            if keys.just_pressed(KeyCode::KeyN) || keys.just_pressed(KeyCode::KeyB) {
                let sim = &g.manifest.works[sel].similar;
                if !sim.is_empty() {
                    let k = if keys.just_pressed(KeyCode::KeyN) { 0 } else { sim.len() - 1 };
                    let next = sim[k] as usize;
                    go_to(&mut g, &t, next);
                }
            }
            if keys.just_pressed(KeyCode::KeyG) {
                go_to(&mut g, &t, sel);
            }
            if keys.just_pressed(KeyCode::KeyX) {
                g.selected = None;
            }
        }
    }
    // Flight in progress: eased, and any manual move cancels it.
    let speed = if keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight) { 60.0 } else { 15.0 };
    let mut mv = Vec3::ZERO;
    if !typing {
        for (key, d) in [
            (KeyCode::KeyW, -Vec3::Z),
            (KeyCode::KeyS, Vec3::Z),
            (KeyCode::KeyA, -Vec3::X),
            (KeyCode::KeyD, Vec3::X),
            (KeyCode::KeyE, Vec3::Y),
            (KeyCode::KeyQ, -Vec3::Y),
        ] {
            if keys.pressed(key) {
                mv += d;
            }
        }
    }
    if !over_ui && scroll.delta.y != 0.0 {
        mv += -Vec3::Z * scroll.delta.y.signum() * 6.0;
    }
    let mut yaw = 0.0;
    let mut pitch = 0.0;
    if !typing {
        let k = 1.2 * dt;
        if keys.pressed(KeyCode::ArrowLeft) {
            yaw += k;
        }
        if keys.pressed(KeyCode::ArrowRight) {
            yaw -= k;
        }
        if keys.pressed(KeyCode::ArrowUp) {
            pitch += k;
        }
        if keys.pressed(KeyCode::ArrowDown) {
            pitch -= k;
        }
    }
    if buttons.pressed(MouseButton::Right) && !over_ui {
        yaw -= motion.delta.x * 0.004;
        pitch -= motion.delta.y * 0.004;
    }
    if mv != Vec3::ZERO || yaw != 0.0 || pitch != 0.0 {
        g.flight = None;
    }
    if let Some(f) = g.flight.as_mut() {
        f.t = (f.t + dt / 1.0).min(1.0);
        let e = f.t * f.t * (3.0 - 2.0 * f.t);
        t.translation = f.from.lerp(f.to, e);
        if f.t >= 1.0 {
            g.flight = None;
        }
        return;
    }
    if g.orbit {
        // Orbit about the map's centre (or the selection).
        let pivot = g.selected.map(|i| g.focus_of(i)).unwrap_or(Vec3::ZERO);
        let offset = t.translation - pivot;
        let r = Quat::from_rotation_y(yaw) * Quat::from_axis_angle(t.rotation * Vec3::X, pitch);
        t.translation = pivot + r * offset;
        t.rotation = r * t.rotation;
        let dist = offset.length();
        let dir = (t.translation - pivot).normalize_or_zero();
        t.translation += dir * (mv.z * speed * dt).clamp(-dist + 1.0, 1e6);
    } else {
        t.rotate_y(yaw);
        t.rotate_local_x(pitch);
        let r = t.rotation;
        t.translation += r * mv * speed * dt;
    }
}

pub(crate) fn set_layout(g: &mut Gallery, layout: Layout) {
    g.set_layout(layout);
}

pub(crate) fn animate(time: Res<Time>, gallery: Option<ResMut<Gallery>>) {
    let Some(mut g) = gallery else { return };
    let Some(tr) = g.transition.as_mut() else { return };
    let done = tr.advance(time.delta_secs());
    let p = tr.positions();
    g.positions = p;
    if done {
        g.transition = None;
    }
    g.dirty = true;
}

pub(crate) fn hover(
    gallery: Option<ResMut<Gallery>>,
    windows: Query<&Window>,
    cams: Query<(&Camera, &GlobalTransform), With<OffAxisCamera>>,
    rig: Query<&Transform, With<Rig>>,
    buttons: Res<ButtonInput<MouseButton>>,
    mut contexts: Option<EguiContexts>,
) {
    let Some(mut g) = gallery else { return };
    let over_ui = contexts
        .as_mut()
        .and_then(|c| c.ctx_mut().ok())
        .is_some_and(|c| c.egui_wants_pointer_input() || c.is_pointer_over_egui());
    let cursor = windows.iter().next().and_then(|w| w.cursor_position());
    let (Some(cursor), Ok((camera, cam_t)), Ok(rig_t)) = (cursor, cams.single(), rig.single()) else {
        g.hovered = None;
        g.hovered_face = None;
        return;
    };
    if over_ui {
        g.hovered = None;
        g.hovered_face = None;
        return;
    }
    let Ok(ray) = camera.viewport_to_world(cam_t, cursor) else { return };
    let hit = pick_at(&g, ray.origin, ray.direction.as_vec3(), rig_t.rotation * Vec3::X, rig_t.rotation * Vec3::Y);
    g.hovered = hit.map(|h| h.0);
    g.hovered_face = hit.and_then(|h| h.1);
    if buttons.just_pressed(MouseButton::Left)
        && let Some((i, face)) = hit
    {
        match face {
            // A face in the face map: to its work in the work map.
            Some(k) => face_to_work(&mut g, rig_t, k),
            None => g.selected = Some(i),
        }
    }
}
