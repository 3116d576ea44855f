"""Solutions to the exercises of notebook 07 · Training (07_training.ipynb).

In the notebook, `solution(N)` puts exercise N's section into a new cell. CI runs each section just
before its exercise's check (scripts/solved_notebooks.py), where every check must pass. A section
never sets `prediction`: a prediction is the student's.
"""

# %% Exercise 1
import math

per_epoch = (82_081 // 4) // large.batch_size
warmup_steps = math.ceil(large.warmup_epochs * per_epoch)


def head_rate(step):
    factor = large.gamma ** sum(step // per_epoch >= m for m in large.milestones)
    if step < warmup_steps:
        factor *= (step + 1) / warmup_steps
    return large.lr_head * factor


answer = [head_rate(s) for s in (0, 100, warmup_steps - 1, warmup_steps, 30 * per_epoch - 1, 30 * per_epoch, 40 * per_epoch)]

# %% Exercise 2
norm = torch.sqrt(sum((g**2).sum() for g in grads))
answer = [g * min(1.0, 10.0 / norm.item()) for g in grads]

# %% Exercise 3
shuffled_y = one_y[torch.randperm(len(one_y), generator=torch.Generator().manual_seed(SEED))]

# %% Exercise 4
def fixed_step(model, batch, optimizer, amp="none", grad_clip=10.0):
    images, targets = batch
    outputs = model(images)
    loss = F.binary_cross_entropy_with_logits(outputs["logits"], targets)  # logits: the loss applies the sigmoid
    optimizer.zero_grad()  # before backward, not between backward and step
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


answer = fixed_step
