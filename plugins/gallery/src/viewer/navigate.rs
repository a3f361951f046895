//! Flying, orbiting, layouts and transitions, hovering and picking.

use super::*;

/// Selects a work and flies the camera to it.
pub(crate) fn go_to(g: &mut Gallery, rig: &Transform, i: usize) {
    g.selected = Some(i);
    let p = Vec3::from(g.positions[i]);
    let back = rig.rotation * Vec3::Z;
    g.flight = Some(Flight { from: rig.translation, to: p + back * 2.2, t: 0.0 });
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
        // Layouts: 1–4.
        for (k, key) in [KeyCode::Digit1, KeyCode::Digit2, KeyCode::Digit3, KeyCode::Digit4].iter().enumerate() {
            if keys.just_pressed(*key) {
                set_layout(&mut g, Layout::ALL[k]);
            }
        }
        if keys.just_pressed(KeyCode::KeyO) {
            g.orbit = !g.orbit;
        }
        // Keyboard-only selection: F picks the work at the centre of the view; N / B step through
        // its similar works; G flies to the selection; X closes it.
        if keys.just_pressed(KeyCode::KeyF) {
            let fwd = t.rotation * -Vec3::Z;
            let quads = quads(&g);
            let pickable = g.filter.is_active().then_some(g.mask.as_slice());
            if let Some((i, _)) = view::pick(
                t.translation.into(),
                fwd.into(),
                (t.rotation * Vec3::X).into(),
                (t.rotation * Vec3::Y).into(),
                &quads,
                pickable,
            ) {
                g.selected = Some(i);
            }
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
        let pivot = g.selected.map(|i| Vec3::from(g.positions[i])).unwrap_or(Vec3::ZERO);
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
    if g.layout == layout {
        return;
    }
    let to = view::layout_positions(&g.manifest, layout);
    g.transition = Some(Transition::new(g.positions.clone(), to, 1.2));
    g.layout = layout;
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
        return;
    };
    if over_ui {
        g.hovered = None;
        return;
    }
    let Ok(ray) = camera.viewport_to_world(cam_t, cursor) else { return };
    let quads = quads(&g);
    let pickable = g.filter.is_active().then_some(g.mask.as_slice());
    let hit = view::pick(
        ray.origin.into(),
        ray.direction.as_vec3().into(),
        (rig_t.rotation * Vec3::X).into(),
        (rig_t.rotation * Vec3::Y).into(),
        &quads,
        pickable,
    );
    g.hovered = hit.map(|h| h.0);
    if buttons.just_pressed(MouseButton::Left)
        && let Some(i) = g.hovered
    {
        g.selected = Some(i);
    }
}
