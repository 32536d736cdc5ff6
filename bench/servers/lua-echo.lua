-- The lua-resty-websocket echo (Debian lua-nginx-websocket, which installs
-- the library as nginx.websocket.*), run by content_by_lua_file in bench/run.
local server = require "nginx.websocket.server"

local wb, err = server:new{ timeout = 600000, max_payload_len = 1048576 }
if not wb then
    ngx.log(ngx.ERR, "failed to start websocket: ", err)
    return ngx.exit(444)
end

local parts, part_typ = nil, nil

while true do
    local data, typ, e = wb:recv_frame()

    if not data then
        if not (e and string.find(e, "timeout", 1, true)) then
            return ngx.exit(444)
        end

    elseif typ == "close" then
        -- e is the status code
        wb:send_close(e)
        return ngx.exit(444)

    elseif typ == "ping" then
        wb:send_pong(data)

    elseif typ == "pong" then
        -- ignored

    elseif typ == "continuation" then
        if parts then
            parts[#parts + 1] = data
            if e ~= "again" then
                local msg = table.concat(parts)
                parts = nil
                if part_typ == "text" then wb:send_text(msg) else wb:send_binary(msg) end
            end
        end

    elseif e == "again" then
        -- the first frame of a fragmented message
        parts, part_typ = { data }, typ

    elseif typ == "text" then
        wb:send_text(data)

    elseif typ == "binary" then
        wb:send_binary(data)
    end
end
